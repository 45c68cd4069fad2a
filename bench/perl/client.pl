#!/usr/bin/perl
# Cache::Memcached::SameRing against Cache::Memcached::Fast 0.28, in one run, on one local
# memcached: get, set and get_multi (100 keys), as a Perl program calls them.
#
#   perl bench/perl/client.pl                   # both placements: same vCPU, then cross vCPU
#   perl bench/perl/client.pl --placement same  # same | cross | both; --cpu 1 --other-cpu 0
#   perl bench/perl/client.pl --rounds 400 --batch 200
#
# Placement (taskset): "same" = this script and memcached (-t 1) on vCPU --cpu; "cross" = this
# script on --cpu, memcached on --other-cpu. Both clients get the same arguments (one server,
# CMF's defaults: no namespace, no compression) and the same preloaded keys "bench:key:0000" ..
# "0999" with 100-byte values.
#
# Paired timing: each round times a batch of --batch operations with one client, then the same
# batch with the other (which one goes first alternates), so both see the same moment of the
# machine's load; the figure per client is the median batch time over the rounds, and the ratio
# comes from these two medians (this 2-vCPU machine is shared: unpaired rates swing by 10-20 %,
# paired ratios by well under 1 %). ops/s = batch / median batch time.
#
# It finds the modules in SAMERING_PERL_BLIB, bindings-perl/blib or build*/bindings-perl/dist/blib
# (else @INC) and Cache::Memcached::Fast in @INC (Debian libcache-memcached-fast-perl).
use strict;
use warnings;
use FindBin;
use Getopt::Long;
use IO::Socket::INET;
use POSIX qw(WNOHANG _exit);
use Socket qw(inet_aton pack_sockaddr_in unpack_sockaddr_in PF_INET SOCK_STREAM);
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC sleep time);

my %opt = (placement => 'both', cpu => 1, 'other-cpu' => 0, rounds => 300, batch => 200, keys => 1000);
GetOptions(\%opt, 'placement=s', 'cpu=i', 'other-cpu=i', 'rounds=i', 'batch=i', 'keys=i', 'memcached=s')
    or die "usage: $0 [--placement same|cross|both] [--cpu N] [--other-cpu N] [--rounds N] [--batch N]\n";

BEGIN {
    my ($blib) = grep { defined && -d } $ENV{SAMERING_PERL_BLIB}, "$FindBin::Bin/../../bindings-perl/blib",
                                        map { "$_/bindings-perl/dist/blib" } glob("$FindBin::Bin/../../build*");
    unshift @INC, "$blib/lib", "$blib/arch" if $blib;
}
use Cache::Memcached::SameRing;
use Cache::Memcached::Fast;

my $pinned = system('taskset -c 0 true >/dev/null 2>&1') == 0;
warn "taskset is not usable: running unpinned\n" unless $pinned;

my @keys  = map { sprintf 'bench:key:%04d', $_ } 0 .. $opt{keys} - 1;
my $value = 'v' x 100;

for my $placement ($opt{placement} eq 'both' ? qw(same cross) : $opt{placement}) {
    my $mc_cpu = $placement eq 'same' ? $opt{cpu} : $opt{'other-cpu'};
    if ($pinned) {
        system('taskset', '-pc', $opt{cpu}, $$) == 0 or die "taskset -pc $opt{cpu} $$ failed\n";
    }
    my ($pid, $port) = start_memcached($pinned ? $mc_cpu : undef);
    my %args = (servers => ["127.0.0.1:$port"]);
    my %client = (samering => Cache::Memcached::SameRing->new({%args}), cmf => Cache::Memcached::Fast->new({%args}));
    $client{cmf}->set($_, $value) for @keys;
    for my $name (keys %client) {    # both connected and agreeing before any timing
        my $c = $client{$name};
        die "$name: preload check failed\n" unless ($c->get($keys[7]) // '') eq $value
                                                && keys %{ $c->get_multi(@keys[ 0 .. 99 ]) } == 100;
    }
    printf "# %s vCPU: bench on vCPU %d, memcached 1.6 (-t 1) on vCPU %d; %d vCPUs; load average %s; %d rounds x %d ops\n",
        $placement, $opt{cpu}, $mc_cpu, scalar(() = glob('/sys/devices/system/cpu/cpu[0-9]*')), loadavg(),
        $opt{rounds}, $opt{batch};
    printf "%-22s %12s %12s %12s %12s %8s\n", 'operation', 'SameRing us', 'CMF us', 'SameRing/s', 'CMF/s', 'ratio';
    for my $op (qw(get set get_multi)) {
        my %median = paired($op, \%client);
        my $unit = $op eq 'get_multi' ? 'get_multi 100 keys' : $op;
        printf "%-22s %12.2f %12.2f %12.0f %12.0f %8.3f\n", $unit, $median{samering} * 1e6, $median{cmf} * 1e6,
            1 / $median{samering}, 1 / $median{cmf}, $median{cmf} / $median{samering};
    }
    print "(ratio = CMF time / SameRing time per operation: SameRing's rate relative to CMF's)\n\n";
    %client = ();
    stop($pid);
}

# Median seconds per operation of each client, from paired batches.
sub paired {
    my ($op, $client) = @_;
    my %code = (
        get => sub {
            my ($c, $i) = @_;
            my $v;
            $v = $c->get($keys[ ($i + $_) % @keys ]) for 1 .. $opt{batch};
            die "get: miss\n" unless defined $v;
        },
        set => sub {
            my ($c, $i) = @_;
            my $r;
            $r = $c->set($keys[ ($i + $_) % @keys ], $value) for 1 .. $opt{batch};
            die "set: failed\n" unless $r;
        },
        get_multi => sub {
            my ($c, $i) = @_;
            my $h;
            for my $b (1 .. $opt{batch}) {
                my $from = (($i + $b) * 100) % @keys;
                $h = $c->get_multi(@keys[ $from .. $from + 99 ]);
            }
            die "get_multi: short\n" unless keys %$h == 100;
        },
    );
    my $run = $code{$op};
    my %times = (samering => [], cmf => []);
    $run->($client->{$_}, 0) for qw(samering cmf);    # warm up
    for my $round (1 .. $opt{rounds}) {
        my @order = $round % 2 ? qw(samering cmf) : qw(cmf samering);
        for my $name (@order) {
            my $t0 = clock_gettime(CLOCK_MONOTONIC);
            $run->($client->{$name}, $round * 37);
            push @{ $times{$name} }, (clock_gettime(CLOCK_MONOTONIC) - $t0) / $opt{batch};
        }
    }
    return map { $_ => median($times{$_}) } keys %times;
}

sub median {
    my @s = sort { $a <=> $b } @{ $_[0] };
    return @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
}

sub loadavg {
    open my $fh, '<', '/proc/loadavg' or return '?';
    return (split ' ', scalar <$fh>)[0];
}

sub start_memcached {
    my ($cpu) = @_;
    my $bin = $opt{memcached} // 'memcached';
    for (1 .. 5) {
        socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
        bind($s, pack_sockaddr_in(0, inet_aton('127.0.0.1'))) or die "bind: $!\n";
        my ($port) = unpack_sockaddr_in(getsockname $s);
        close $s;
        my @cmd = ($bin, '-U', '0', '-l', '127.0.0.1', '-p', $port, '-t', '1', '-m', '64');
        push @cmd, '-u', 'nobody' if $> == 0;
        unshift @cmd, 'taskset', '-c', $cpu if defined $cpu;
        my $pid = fork // die "fork: $!\n";
        if (!$pid) {
            open STDIN, '<', '/dev/null';
            exec @cmd or _exit(127);
        }
        my $deadline = time + 10;
        while (time < $deadline) {
            last if waitpid($pid, WNOHANG) == $pid;
            if (my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 1)) {
                print $c "version\r\n";
                my $line = <$c>;
                return ($pid, $port) if defined $line && $line =~ /^VERSION/;
            }
            sleep 0.02;
        }
        stop($pid);
    }
    die "memcached did not start\n";
}

sub stop {
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
