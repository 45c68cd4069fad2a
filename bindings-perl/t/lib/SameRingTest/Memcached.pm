package SameRingTest::Memcached;
# Real memcached processes for the tests: started by PID on free loopback ports with bounded
# waits, killed at the end (stop, or when the object goes away); and a raw text-protocol look at
# one node, independent of the clients under test.
#
#   SameRingTest::Memcached->need('Cache::Memcached::Fast');   # before the plan
#   my $mc = SameRingTest::Memcached->start(3);
#   my @addresses = $mc->addresses;                  # "127.0.0.1:port", in start order
#   my $item = $mc->raw_get($i, $key);               # { flags, data } on node $i, or undef
#   $mc->stop;
use strict;
use warnings;
use IO::Socket::INET;
use POSIX qw(WNOHANG _exit);
use Socket qw(inet_aton pack_sockaddr_in unpack_sockaddr_in PF_INET SOCK_STREAM);
use Time::HiRes qw(time sleep);
use Test::More ();

# The memcached binary, or undef.
sub binary {
    for my $dir (split(/:/, $ENV{PATH} // ''), '/usr/bin', '/usr/local/bin') {
        return "$dir/memcached" if length $dir && -x "$dir/memcached";
    }
    return undef;
}

# Call before the plan: skips the test file when memcached (or a module named) is missing, or
# fails it when SAMERING_PERL_REQUIRE is set (ctest sets it: there a missing prerequisite must not
# pass as a skip).
sub need {
    my ($class, @modules) = @_;
    my @missing;
    push @missing, 'memcached (Debian package memcached)' unless binary();
    for my $m (@modules) {
        push @missing, $m unless eval "require $m; 1";
    }
    return unless @missing;
    if ($ENV{SAMERING_PERL_REQUIRE}) {
        Test::More::plan(tests => 1);
        Test::More::fail("missing: @missing (SAMERING_PERL_REQUIRE is set)");
        exit 1;
    }
    Test::More::plan(skip_all => "missing: @missing");
}

sub _free_port {
    socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
    bind($s, pack_sockaddr_in(0, inet_aton('127.0.0.1'))) or die "bind: $!\n";
    my ($port) = unpack_sockaddr_in(getsockname $s);
    close $s;
    return $port;
}

sub start {
    my ($class, $n, @extra) = @_;
    my $self = bless { nodes => [], owner => $$ }, $class;
    for (1 .. $n) {
        my ($pid, $port);
        for my $attempt (1 .. 5) {    # a port found free may be taken before memcached binds it
            $port = _free_port();
            $pid = _spawn($port, @extra);
            last if _wait_ready($pid, $port);
            _kill($pid);
            undef $pid;
        }
        die "memcached did not start on 127.0.0.1 (5 attempts)\n" unless $pid;
        push @{ $self->{nodes} }, { pid => $pid, port => $port };
    }
    return $self;
}

sub _spawn {
    my ($port, @extra) = @_;
    my @cmd = (binary(), '-U', '0', '-l', '127.0.0.1', '-p', $port, '-m', '64', '-t', '2', @extra);
    push @cmd, '-u', 'nobody' if $> == 0;
    my $pid = fork;
    die "fork: $!\n" unless defined $pid;
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        exec @cmd or _exit(127);
    }
    return $pid;
}

sub _wait_ready {
    my ($pid, $port) = @_;
    my $deadline = time + 10;
    while (time < $deadline) {
        return 0 if waitpid($pid, WNOHANG) == $pid;    # exited: port taken, say
        if (my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 1)) {
            $s->autoflush(1);
            print $s "version\r\n";
            my $line = <$s>;
            return 1 if defined $line && $line =~ /^VERSION /;
        }
        sleep 0.02;
    }
    return 0;
}

sub _kill {
    my ($pid) = @_;
    kill 'TERM', $pid;
    my $deadline = time + 5;
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) != 0;
        sleep 0.02;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

sub addresses { map { "127.0.0.1:$_->{port}" } @{ $_[0]{nodes} } }
sub port      { $_[0]{nodes}[ $_[1] ]{port} }
sub count     { scalar @{ $_[0]{nodes} } }

# Kills node $i now (its address stays in addresses()).
sub kill_node {
    my ($self, $i) = @_;
    my $node = $self->{nodes}[$i];
    _kill($node->{pid}) if $node->{pid};
    $node->{pid} = undef;
}

# "get <key>" straight to node $i: { flags => ..., data => ... }, or undef for a miss.
sub raw_get {
    my ($self, $i, $key) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->port($i), Timeout => 5)
        or die "connect to node $i: $!\n";
    $s->autoflush(1);
    binmode $s;
    print $s "get $key\r\n";
    my $line = <$s> // die "node $i: no reply\n";
    return undef if $line eq "END\r\n";
    $line =~ /^VALUE \S+ (\d+) (\d+)\r\n\z/ or die "node $i: unexpected reply $line";
    my ($flags, $len) = ($1, $2);
    my $data = '';
    while (length $data < $len + 2) {
        my $got = read($s, $data, $len + 2 - length $data, length $data);
        die "node $i: short value\n" unless $got;
    }
    substr($data, -2) = '';
    return { flags => $flags, data => $data };
}

# The indices of the nodes that hold $key.
sub holders {
    my ($self, $key) = @_;
    return grep { defined $self->raw_get($_, $key) } 0 .. $self->count - 1;
}

# Kills every node. Only in the process that started them: a forked test child that exits does
# not stop its parent's nodes.
sub stop {
    my ($self) = @_;
    return unless $self->{owner} == $$;
    _kill($_->{pid}) for grep { $_->{pid} } @{ $self->{nodes} };
    $_->{pid} = undef for @{ $self->{nodes} };
}

sub DESTROY { $_[0]->stop }

# Not copied into ithreads: a thread's copy would stop the nodes when the thread ends (the pid is
# the same).
sub CLONE_SKIP { 1 }

1;
