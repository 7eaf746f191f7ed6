#!/usr/bin/perl
# tests/lib/policy-client.pl - a Postfix policy delegation client for the
# black-box tests (tests/cases/16-fwdmapd-policy.sh).  Not a test itself.
#
#   policy-client ENDPOINT ask SENDER RECIPIENT [STATE]
#                       one request as smtpd sends it; prints the action
#   policy-client ENDPOINT seq N
#                       N requests one after the other on one connection,
#                       each answer read before the next request (as
#                       smtpd does), alternately a refused and an allowed
#                       sender for team@tum.de; prints "ok N" or the first
#                       wrong answer
#   policy-client ENDPOINT pipe N
#                       N such requests written at once (by a child
#                       process), every answer read and checked in order
#                       meanwhile; "ok N"
# ENDPOINT is unix:PATH or inet:HOST:PORT.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use FwdmapEndpoint qw(endpoint_connect);
use IO::Select;
use Time::HiRes qw(time);

$SIG{PIPE} = "IGNORE";
my ($ep, $mode, @args) = @ARGV;
die "usage: policy-client ENDPOINT MODE ...\n" unless defined $mode;

sub conn { return endpoint_connect($ep); }

# The attributes Postfix 3.7's smtpd sends, in its order.
sub request {
    my ($sender, $rcpt, $state) = @_;
    $state //= 'RCPT';
    return join('', map { "$_\n" }
        "request=smtpd_access_policy", "protocol_state=$state",
        "protocol_name=ESMTP", "client_address=192.0.2.10",
        "client_name=client.example.org", "client_port=40000",
        "reverse_client_name=client.example.org",
        "server_address=127.0.0.1", "server_port=25",
        "helo_name=client.example.org", "sender=$sender",
        "recipient=$rcpt", "recipient_count=0", "queue_id=",
        "instance=1a2b.3c4d5e6f.7a8b9.0", "size=0", "etrn_domain=",
        "stress=", "sasl_method=", "sasl_username=", "sasl_sender=",
        "ccert_subject=", "ccert_issuer=", "ccert_fingerprint=",
        "ccert_pubkey_fingerprint=", "encryption_protocol=",
        "encryption_cipher=", "encryption_keysize=0",
        "policy_context=", "compatibility_level=3.6",
        "mail_version=3.7.11") . "\n";
}

my $rbuf = '';
sub answer {
    my ($s) = @_;
    my $sel = IO::Select->new($s);
    my $end = time + 10;
    while ($rbuf !~ /\n\n/) {
        my $left = $end - time;
        return undef if $left <= 0 || !$sel->can_read($left);
        my $r = sysread($s, $rbuf, 65536, length $rbuf);
        return undef unless $r;
    }
    $rbuf =~ s/^(.*?)\n\n//s;
    return $1;
}

my $refused = qr/^action=REJECT 5\.7\.1 group <team\@tum\.de> /;
if ($mode eq 'ask') {
    my $s = conn();
    print $s request(@args);
    my $a = answer($s);
    print defined $a ? "$a\n" : "<no answer>\n";
} elsif ($mode eq 'seq' || $mode eq 'pipe') {
    my $n = $args[0];
    my $s = conn();
    my (@want, $out);
    $out = '';
    for my $i (1 .. $n) {
        my $ok = $i % 2;
        my $req = request($ok ? "Jane.Doe+x$i\@tum.de" : "stranger$i\@lmu.de",
                          $i % 3 ? 'team@tum.de' : 'Team+lists@TUM.de');
        if ($mode eq 'seq') {
            print $s $req;
            my $a = answer($s);
            if (!defined $a || ($ok ? $a ne 'action=DUNNO' : $a !~ $refused)) {
                print "request $i: ", $a // '<no answer>', "\n";
                exit 0;
            }
        } else {
            $out .= $req;
            push @want, $ok;
        }
    }
    if (length $out) {
        # A writer that does not wait for the reader: the server stops
        # reading while its answers are not taken (back-pressure).
        my $pid = fork();
        die "fork: $!\n" unless defined $pid;
        if ($pid == 0) { print $s $out; exit 0; }
    }
    for my $i (1 .. @want) {
        my $a = answer($s);
        my $ok = $want[$i - 1];
        if (!defined $a || ($ok ? $a ne 'action=DUNNO' : $a !~ $refused)) {
            print "request $i: ", $a // '<no answer>', "\n";
            exit 0;
        }
    }
    print "ok $n\n";
} else {
    die "unknown mode $mode\n";
}
