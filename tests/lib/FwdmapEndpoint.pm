# tests/lib/FwdmapEndpoint.pm - the connection both test clients make
# (sockmap-client.pl, policy-client.pl): ENDPOINT is unix:PATH or
# inet:HOST:PORT, as in fwdmapd's configuration.  Not a test itself.
package FwdmapEndpoint;
use strict;
use warnings;
use IO::Socket::UNIX;
use IO::Socket::INET;
use Exporter 'import';
our @EXPORT_OK = qw(endpoint_connect);

# endpoint_connect ENDPOINT: a connected, autoflushed, binary stream
# socket; dies with the reason when it cannot connect.
sub endpoint_connect {
    my ($ep) = @_;
    my $s;
    if ($ep =~ /^unix:(.*)$/) {
        $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $1);
    } elsif ($ep =~ /^inet:(.*):(\d+)$/) {
        $s = IO::Socket::INET->new(PeerAddr => $1, PeerPort => $2, Proto => 'tcp');
    } else {
        die "bad endpoint $ep\n";
    }
    die "connect $ep: $!\n" unless $s;
    $s->autoflush(1);
    binmode $s;
    return $s;
}

1;
