package SameRingTest::Responder;
# A minimal memcached text-protocol responder on loopback listeners, to observe which server a
# real client sends a key to (the way samering's fixture generators observe their peers).
#
#   my $resp = SameRingTest::Responder->start(['127.0.91.1', '127.0.91.2']);  # listening on return
#   my @addresses = $resp->addresses;          # "ip:port" (ephemeral ports)
#   $client->get($key);
#   my ($listener, $wire_key) = $resp->next(5);  # () on timeout
#   my $leftover = $resp->stop;                  # lines not consumed; the child is reaped
#
# A forked child accepts on every listener and answers each "get"/"gets" with "END\r\n" after
# reporting "<listener index> <key hex>\n" per key over a pipe, so the report is readable by the
# time the client's get() returns. Any other command is reported as "<index> ! <line hex>" and
# answered "ERROR\r\n". Every wait is bounded; the child exits by itself after $LIFETIME seconds
# and is killed by PID if it does not stop.
use strict;
use warnings;
use IO::Select;
use POSIX qw(WNOHANG _exit);
use Socket qw(inet_aton pack_sockaddr_in unpack_sockaddr_in inet_ntoa PF_INET SOCK_STREAM SOL_SOCKET SO_REUSEADDR);
use Time::HiRes qw(time sleep);

our $LIFETIME = 300;

sub start {
    my ($class, $ips) = @_;
    my (@listen, @addresses);
    for my $ip (@$ips) {
        socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
        setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1) or die "setsockopt: $!\n";
        bind($s, pack_sockaddr_in(0, inet_aton($ip))) or die "bind $ip: $!\n";
        listen($s, 64) or die "listen $ip: $!\n";
        my ($port, $addr) = unpack_sockaddr_in(getsockname $s);
        push @listen, $s;
        push @addresses, inet_ntoa($addr) . ":$port";
    }
    pipe(my $rep_r, my $rep_w) or die "pipe: $!\n";    # child -> parent: reports
    pipe(my $ctl_r, my $ctl_w) or die "pipe: $!\n";    # parent -> child: EOF means stop
    my $pid = fork;
    die "fork: $!\n" unless defined $pid;
    if (!$pid) {
        close $rep_r;
        close $ctl_w;
        my $ok = eval { _serve(\@listen, $rep_w, $ctl_r); 1 };
        print STDERR "responder: $@" unless $ok;
        _exit($ok ? 0 : 1);
    }
    close $_ for @listen, $rep_w, $ctl_r;
    return bless { pid => $pid, rep => $rep_r, ctl => $ctl_w, buf => '', addresses => \@addresses }, $class;
}

sub addresses { @{ $_[0]{addresses} } }

# (listener index, key bytes) of the next reported key, or () after $timeout seconds.
sub next {
    my ($self, $timeout) = @_;
    my $deadline = time + $timeout;
    while ($self->{buf} !~ /\n/) {
        my $left = $deadline - time;
        return if $left <= 0;
        return unless IO::Select->new($self->{rep})->can_read($left);
        my $n = sysread($self->{rep}, $self->{buf}, 65536, length $self->{buf});
        return unless $n;
    }
    $self->{buf} =~ s/\A([^\n]*)\n//;
    my $line = $1;
    return ($1, pack 'H*', $2) if $line =~ /\A(\d+) ([0-9a-f]*)\z/;
    die "responder reported: $line\n";
}

# Stops the child; returns the report lines nobody read.
sub stop {
    my ($self) = @_;
    return [] unless $self->{pid};
    close $self->{ctl};
    my $deadline = time + 5;
    while (time < $deadline && IO::Select->new($self->{rep})->can_read($deadline - time)) {
        last unless sysread($self->{rep}, $self->{buf}, 65536, length $self->{buf});
    }
    $self->_reap;
    return [ grep { length } split /\n/, $self->{buf} ];
}

sub _reap {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    for my $signal (undef, 'TERM', 'KILL') {
        kill $signal, $pid if $signal;
        my $until = time + 2;
        while (time < $until) {
            return if waitpid($pid, WNOHANG) == $pid;
            sleep 0.01;
        }
    }
    waitpid($pid, 0);
}

sub DESTROY { $_[0]->_reap }

sub _serve {
    my ($listen, $rep, $ctl) = @_;
    $SIG{ALRM} = sub { _exit(2) };
    alarm $LIFETIME;
    $SIG{PIPE} = 'IGNORE';
    my %listener = map { fileno($listen->[$_]) => $_ } 0 .. $#$listen;
    my %conn;
    my $sel = IO::Select->new(@$listen, $ctl);
    my $say = sub {
        my ($text) = @_;
        for (my $off = 0; $off < length $text;) {
            my $n = syswrite($rep, $text, length($text) - $off, $off);
            die "report pipe: $!\n" unless defined $n;
            $off += $n;
        }
    };
    while (1) {
        for my $fh ($sel->can_read(60)) {
            my $fd = fileno $fh;
            if ($fh == $ctl) {
                return unless sysread($ctl, my $junk, 4096);
                next;
            }
            if (exists $listener{$fd}) {
                accept(my $c, $fh) or next;
                $conn{ fileno $c } = { fh => $c, index => $listener{$fd}, buf => '' };
                $sel->add($c);
                next;
            }
            my $cn = $conn{$fd} or next;
            if (!sysread($fh, $cn->{buf}, 65536, length $cn->{buf})) {
                $sel->remove($fh);
                delete $conn{$fd};
                close $fh;
                next;
            }
            while ($cn->{buf} =~ s/\A([^\n]*)\n//) {
                (my $line = $1) =~ s/\r\z//;
                my ($cmd, @keys) = split / +/, $line;
                if (defined $cmd && ($cmd eq 'get' || $cmd eq 'gets')) {
                    $say->(join '', map { "$cn->{index} " . unpack('H*', $_) . "\n" } @keys);
                    syswrite($fh, "END\r\n");
                } else {
                    $say->("$cn->{index} ! " . unpack('H*', $line) . "\n");
                    syswrite($fh, "ERROR\r\n");
                }
            }
        }
    }
}

1;
