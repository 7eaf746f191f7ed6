#!/usr/bin/perl
# tests/lib/sockmap-client.pl - a small socketmap client for the fwdmapd black-box
# tests (tests/cases/2*.sh).  Not a test itself (run.sh runs only *.sh).
#
#   sockmap ENDPOINT query [-p]     stdin lines "name key"; prints one reply
#                                   per line; -p sends all before reading
#   sockmap ENDPOINT raw [SECS]     sends stdin bytes as they are, prints
#                                   what comes back, then "<closed>" when
#                                   the server closed, "<open>" on timeout
#   sockmap ENDPOINT slow NAME KEY  one request, one byte at a time
#   sockmap ENDPOINT loop SECS NAME KEY
#                                   lookups on one connection for SECS;
#                                   prints "reply count" lines at the end
#   sockmap ENDPOINT hold N SECS    opens N connections, prints how many
#                                   the server kept open after SECS
#   sockmap ENDPOINT flood N        N pipelined requests, alternately
#                                   "domains tum.de" and "recipients
#                                   nobody@tum.de", written without reading
#                                   for 1 s (the server must stop reading and
#                                   resume), then all answers are read and
#                                   checked in order; prints "ok N" or the
#                                   first mismatch
#   sockmap ENDPOINT many [PID]    stdin lines "name key": one connection
#                                   each, all connected first; with PID,
#                                   that process is stopped (SIGSTOP) while
#                                   every request is written and continued
#                                   after, so that the server finds them all
#                                   ready at once; then prints each
#                                   connection's reply, one per line
#   sockmap ENDPOINT pending NAME KEY SECS
#                                   sends a request without its last byte,
#                                   waits SECS, sends the byte, prints reply
# ENDPOINT is unix:PATH or inet:HOST:PORT.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use FwdmapEndpoint qw(endpoint_connect);
use IO::Select;
use Time::HiRes qw(time sleep);

$SIG{PIPE} = "IGNORE";

my $held_pid;				# "many": a server stopped (SIGSTOP)
END { kill 'CONT', $held_pid if $held_pid; }

my ($ep, $mode, @args) = @ARGV;
die "usage: sockmap ENDPOINT MODE ...\n" unless defined $mode;

sub conn { return endpoint_connect($ep); }

sub ns { my $d = shift; return length($d) . ":" . $d . ","; }

# Read one netstring reply; undef on EOF or timeout.  Bytes read beyond
# it stay in %pending for the next call.
my %pending;
sub get_reply {
    my ($s, $secs) = @_;
    $secs //= 5;
    my $buf = delete $pending{$s} // '';
    my $sel = IO::Select->new($s);
    my $end = time + $secs;
    while (1) {
        if ($buf =~ /^(\d+):/) {
            my $n = $1;
            my $need = length($n) + 1 + $n + 1;
            if (length($buf) >= $need) {
                die "reply not terminated by a comma: $buf\n"
                    unless substr($buf, $need - 1, 1) eq ',';
                $pending{$s} = substr($buf, $need);
                return substr($buf, length($n) + 1, $n);
            }
        } elsif ($buf ne '' && $buf !~ /^\d+$/) {
            die "bad reply: $buf\n";
        }
        my $left = $end - time;
        return undef if $left <= 0 || !$sel->can_read($left);
        my $r = sysread($s, $buf, 65536, length $buf);
        return undef unless $r;
    }
}

if ($mode eq 'query') {
    my $pipe = @args && $args[0] eq '-p';
    my $s = conn();
    my @lines = map { chomp; $_ } <STDIN>;
    if ($pipe) {
        print $s join('', map { ns($_) } @lines);
        for (@lines) { my $r = get_reply($s); print defined $r ? "$r\n" : "<none>\n"; }
    } else {
        for (@lines) {
            print $s ns($_);
            my $r = get_reply($s);
            print defined $r ? "$r\n" : "<none>\n";
        }
    }
} elsif ($mode eq 'raw') {
    my $secs = $args[0] // 3;
    my $s = conn();
    local $/;
    my $in = <STDIN>;
    print $s $in if length $in;
    my $sel = IO::Select->new($s);
    my $end = time + $secs;
    my $buf = '';
    while (1) {
        my $left = $end - time;
        if ($left <= 0 || !$sel->can_read($left)) { print "$buf<open>\n"; exit 0; }
        my $r = sysread($s, $buf, 65536, length $buf);
        if (!$r) { print "$buf<closed>\n"; exit 0; }
    }
} elsif ($mode eq 'slow') {
    my $s = conn();
    my $req = ns("$args[0] $args[1]");
    for my $c (split //, $req) { print $s $c; sleep 0.01; }
    my $r = get_reply($s);
    print defined $r ? "$r\n" : "<none>\n";
} elsif ($mode eq 'flood') {
    my $n = $args[0];
    my $s = conn();
    $s->blocking(0);
    my @req = (ns("domains tum.de"), ns("recipients nobody\@tum.de"));
    my @want = ("OK tum", "NOTFOUND ");
    my $out = join('', map { $req[$_ % 2] } 0 .. $n - 1);
    my ($in, $got, $start) = ('', 0, time);
    my $progress = time;
    my $sel = IO::Select->new($s);
    while ($got < $n) {
        my $reading = time - $start > 1;
        my @w = length($out) ? ($s) : ();
        my ($r, $wr) = IO::Select->select($reading ? $sel : undef,
                                          @w ? IO::Select->new(@w) : undef, undef, 0.1);
        if (time - $progress > 5) { print "stalled after $got answers\n"; exit 0; }
        if ($wr && @$wr) {
            my $k = syswrite($s, $out, 65536);
            if ($k) { substr($out, 0, $k) = ''; $progress = time; }
        }
        if ($r && @$r) {
            $progress = time;
            my $k = sysread($s, $in, 65536, length $in);
            if (!$k) { print "closed after $got answers\n"; exit 0; }
            while ($in =~ /^(\d+):/ && length($in) >= length($1) + $1 + 2) {
                my $l = $1;
                my $p = substr($in, length($l) + 1, $l);
                substr($in, 0, length($l) + $l + 2) = '';
                if ($p ne $want[$got % 2]) { print "answer $got: [$p]\n"; exit 0; }
                $got++;
            }
        }
    }
    print "ok $got\n";
} elsif ($mode eq 'pending') {
    my ($name, $key, $secs) = @args;
    my $s = conn();
    my $req = ns("$name $key");
    print $s substr($req, 0, -1);
    sleep $secs;
    print $s ',';
    my $r = get_reply($s);
    print defined $r ? "$r\n" : "<none>\n";
} elsif ($mode eq 'loop') {
    my ($secs, $name, $key) = @args;
    my $s = conn();
    my %n;
    my $end = time + $secs;
    while (time < $end) {
        print $s ns("$name $key");
        my $r = get_reply($s);
        if (!defined $r) { $n{'<none>'}++; $s = conn(); next; }
        $n{$r}++;
    }
    print "$_ $n{$_}\n" for sort keys %n;
} elsif ($mode eq 'hold') {
    my ($n, $secs) = @args;
    my @s;
    for (1 .. $n) { push @s, conn(); }
    sleep $secs;
    # Whoever the server closed reads EOF now.
    my $open = 0;
    for my $s (@s) {
        my $sel = IO::Select->new($s);
        if ($sel->can_read(0)) {
            my $b;
            my $r = sysread($s, $b, 10);
            $open++ if $r;
        } else {
            $open++;
        }
    }
    print "$open\n";
} elsif ($mode eq 'many') {
    my ($pid) = @args;
    my @q = map { chomp; $_ } grep { /\S/ } <STDIN>;
    my @s = map { conn() } @q;
    # Whatever happens to this client, the server is not left stopped.
    $held_pid = $pid;
    kill 'STOP', $pid if $pid;
    for my $i (0 .. $#q) {
        my $s = $s[$i];
        print $s ns($q[$i]);
        $s->flush;
    }
    kill 'CONT', $pid if $pid;
    for my $s (@s) {
        my $r = get_reply($s, 10);
        print defined $r ? "$r\n" : "<none>\n";
    }
} else {
    die "unknown mode $mode\n";
}
exit 0;
