package SameRingTest::Broker;
# samering-broker for the tests: started by PID (fork + exec) on a socket in a temporary
# directory, with --shm-dir, every wait bounded; stopped with SIGTERM + waitpid (SIGKILL when it
# does not stop), and killed by PID when the object goes away in the process that started it.
#
#   SameRingTest::Broker->need;                        # before the plan: the binary, or skip/fail
#   my $b = SameRingTest::Broker->start(dir => $tmp, rings => { main => '/path/main.json' });
#   $b->socket; $b->shm_dir; $b->pid;
#   $b->hup;  $b->kill9;  $b->restart;  $b->stop;      # stop returns the exit status
use strict;
use warnings;
use IO::Socket::UNIX;
use POSIX qw(WNOHANG _exit);
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(time sleep);
use Test::More ();

# The path of samering-broker: SAMERING_BROKER_BIN (CMake sets it to its samering-broker target).
sub binary { $ENV{SAMERING_BROKER_BIN} }

# Call before the plan. Without a usable binary the test file fails when the binary was asked for
# (SAMERING_BROKER_BIN set: a missing file is an error) or the prerequisites are required
# (SAMERING_PERL_REQUIRE, set by ctest); a standalone `make test` skips it and says why.
# SAMERING_NO_BROKER (CMake's SAMERING_BUILD_BROKER=OFF) skips it always.
sub need {
    my ($class) = @_;
    if ($ENV{SAMERING_NO_BROKER}) {
        Test::More::plan(skip_all => 'samering-broker is not part of this build (SAMERING_BUILD_BROKER=OFF)');
    }
    my $bin = binary();
    my $why = !defined $bin || !length $bin ? 'SAMERING_BROKER_BIN is not set (the path of samering-broker)'
            : !-f $bin || !-x _             ? "SAMERING_BROKER_BIN=$bin is not an executable file"
            :                                 undef;
    return unless defined $why;
    if ((defined $bin && length $bin) || $ENV{SAMERING_PERL_REQUIRE}) {
        Test::More::plan(tests => 1);
        Test::More::fail("samering-broker is required here: $why");
        exit 1;
    }
    Test::More::plan(skip_all => "$why; a standalone `make test` skips this (ctest fails instead)");
}

# start(dir => DIR, rings => { NAME => SPEC_FILE, ... }, [extra => [ARGS]], [timeout => S], [no_shm => 1])
# The socket is DIR/broker.sock, the shm dir DIR/shm (none with no_shm), the log DIR/broker.log;
# --no-watch: a spec file changes the ring only on SIGHUP. Dies (with the log)
# when the broker is not accepting connections within the timeout.
sub start {
    my ($class, %o) = @_;
    my $self = bless {
        dir     => $o{dir},
        rings   => $o{rings},
        extra   => $o{extra} || [],
        no_shm  => $o{no_shm},
        timeout => $o{timeout} || 30,
        socket  => "$o{dir}/broker.sock",
        shm_dir => "$o{dir}/shm",
        log     => "$o{dir}/broker.log",
        owner   => $$,
    }, $class;
    $self->_spawn;
    return $self;
}

sub socket  { $_[0]{socket} }
sub shm_dir { $_[0]{shm_dir} }
sub pid     { $_[0]{pid} }

sub log_text {
    my ($self) = @_;
    open my $fh, '<', $self->{log} or return '';
    local $/;
    return scalar <$fh>;
}

sub _spawn {
    my ($self) = @_;
    my @argv = (binary(), '--socket', $self->{socket}, ($self->{no_shm} ? () : ('--shm-dir', $self->{shm_dir})),
                '--no-watch', '--quiet',
                (map { ('--ring', "$_=$self->{rings}{$_}") } sort keys %{ $self->{rings} }),
                @{ $self->{extra} });
    my $pid = fork;
    die "fork: $!\n" unless defined $pid;
    if (!$pid) {
        open STDOUT, '>>', $self->{log} or _exit(126);
        open STDERR, '>&', \*STDOUT or _exit(126);
        { no warnings 'exec'; exec { $argv[0] } @argv; }
        _exit(127);
    }
    $self->{pid} = $pid;
    $self->{status} = undef;
    my $deadline = time + $self->{timeout};
    while (time < $deadline) {
        if (!$self->running) {
            die "samering-broker exited during start-up (status $self->{status}):\n" . $self->log_text;
        }
        my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $self->{socket});
        if ($s) { close $s; return }
        sleep 0.01;
    }
    $self->_kill_wait('KILL');
    die "samering-broker did not accept connections within $self->{timeout}s:\n" . $self->log_text;
}

sub running {
    my ($self) = @_;
    return 0 unless $self->{pid} && !defined $self->{status};
    my $r = waitpid($self->{pid}, WNOHANG);
    if ($r == $self->{pid}) { $self->{status} = $?; return 0 }
    return $r == 0;
}

# Waits (bounded) for the broker to exit; its wait status, or undef on timeout.
sub _wait {
    my ($self, $seconds) = @_;
    my $deadline = time + $seconds;
    while (1) {
        return $self->{status} unless $self->running;
        return undef if time > $deadline;
        sleep 0.005;
    }
}

sub _kill_wait {
    my ($self, $signal) = @_;
    return $self->{status} unless $self->running;
    kill $signal, $self->{pid};
    my $status = $self->_wait(10);
    if (!defined $status) {
        kill 'KILL', $self->{pid};
        $status = $self->_wait(10);
    }
    return $status;
}

# SIGTERM and wait: the wait status (0 after a graceful stop), or -1 if it would not exit.
sub stop {
    my ($self) = @_;
    return $self->_kill_wait('TERM') // -1;
}

sub kill9 { $_[0]->_kill_wait('KILL') }

sub hup {
    my ($self) = @_;
    kill 'HUP', $self->{pid} or die "kill HUP $self->{pid}: $!\n";
}

sub signal {
    my ($self, $signal) = @_;
    kill $signal, $self->{pid} or die "kill $signal $self->{pid}: $!\n";
}

# A new broker process on the same socket, shm dir and rings (after stop or kill9).
sub restart {
    my ($self) = @_;
    $self->_kill_wait('TERM') if $self->running;
    $self->_spawn;
}

# An ithreads clone of the object would stop the broker when its thread ends: threads get undef.
sub CLONE_SKIP { 1 }

sub DESTROY {
    my ($self) = @_;
    return unless $self->{owner} == $$;    # a forked child must not stop the parent's broker
    local ($?, $!, $@);
    $self->_kill_wait('KILL') if $self->running;
}

1;
