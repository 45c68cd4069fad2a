#!/usr/bin/perl
# SameRing::Selector from Perl, against its floor and a pure-Perl peer, in one run:
#   pick      $ring->pick($key)                 cmf flavor, 10 servers, ketama_points 150
#   noop      $noop->noop($key)                 XS method with pick's signature, returns a constant
#   perl      CMF's ketama in Perl: crc32 (String::CRC32, an XS crc, as Perl clients use it) + a
#             Perl binary search over the 1,500 points
#   perl-crc  the same with the crc32 in pure Perl too (no XS at all)
#   multi     $ring->pick_multi(@keys) for 100 keys, per key
#   noop-multi  the floor of that: an XS call returning one constant per key
# Every figure is in ns per key, including the Perl loop around the call (gross, as a caller sees
# it; "net" subtracts an empty loop): the median of 5 runs, each the median of many passes over the
# keys with the variants interleaved (robust to other load on the machine); see the timing loop.
#
#   (cd bench/perl/Noop && perl Makefile.PL && make)        # once
#   perl bench/perl/pick.pl [--runs 5] [--seconds 0.4]      # re-runs itself under taskset -c 1
#   perl bench/perl/pick.pl --no-pin --variant pick --loops 10   # one variant, untimed (callgrind)
#
# It finds SameRing::Selector in SAMERING_PERL_BLIB, bindings-perl/blib or build/bindings-perl/dist/blib
# (or @INC), and the no-op in bench/perl/Noop/blib.
use strict;
use warnings;
use FindBin;
use Getopt::Long;
use List::Util qw(sum);
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);

my %opt = (runs => 5, seconds => 0.5, cpu => 1, keys => 1000, loops => 10);
my @argv = @ARGV;
GetOptions(\%opt, 'runs=i', 'seconds=f', 'cpu=i', 'keys=i', 'no-pin', 'variant=s', 'loops=i')
    or die "usage: $0 [--runs N] [--seconds S] [--cpu C] [--no-pin] [--variant NAME --loops N]\n";

if (!$opt{'no-pin'} && !$ENV{SAMERING_BENCH_PINNED} && system('taskset -c 0 true >/dev/null 2>&1') == 0) {
    $ENV{SAMERING_BENCH_PINNED} = $opt{cpu};
    exec 'taskset', '-c', $opt{cpu}, $^X, $0, @argv or die "exec taskset: $!\n";
}

BEGIN {
    # SameRing::Selector: SAMERING_PERL_BLIB, an in-source build of bindings-perl, or the copy a
    # CMake build (SAMERING_BUILD_PERL=ON, build dir "build") made; else whatever @INC has.
    my ($blib) = grep { defined && -d } $ENV{SAMERING_PERL_BLIB}, "$FindBin::Bin/../../bindings-perl/blib",
                                        "$FindBin::Bin/../../build/bindings-perl/dist/blib";
    unshift @INC, "$blib/lib", "$blib/arch" if $blib;
    unshift @INC, "$FindBin::Bin/Noop/blib/lib", "$FindBin::Bin/Noop/blib/arch";
}
use SameRing::Selector;
use SameRingBench::Noop;
my $have_string_crc32 = eval { require String::CRC32; 1 };

# ---- the ring: 10 servers, 150 points each (CMF ketama) ----
my @servers = map { "10.0.0.$_:11211" } 1 .. 10;
my $POINTS  = 150;
my $ring    = SameRing::Selector->new(flavor => 'cmf', servers => \@servers, ketama_points => $POINTS);
my $noop    = SameRingBench::Noop->new;

# ---- CMF's ketama in Perl (Cache::Memcached::Fast 0.28 src/dispatch_key.c) ----
my @CRC_TABLE = map {
    my $c = $_;
    $c = $c & 1 ? 0xEDB88320 ^ ($c >> 1) : $c >> 1 for 1 .. 8;
    $c;
} 0 .. 255;

sub crc32_pp {
    my ($s, $crc) = @_;
    $crc = ($crc // 0) ^ 0xFFFFFFFF;
    $crc = ($crc >> 8) ^ $CRC_TABLE[ ($crc ^ $_) & 0xFF ] for unpack 'C*', $s;
    return $crc ^ 0xFFFFFFFF;
}

# points: crc32 chain seeded with crc32(host "\0" port); equal points keep the earlier server.
my (@point, @owner);
{
    my @all;
    for my $i (0 .. $#servers) {
        my ($host, $port) = $servers[$i] =~ /\A(.*):([^:]*)\z/;
        my $seed = crc32_pp($port, crc32_pp("\0", crc32_pp($host)));
        my $p = 0;
        for (1 .. int($POINTS * 1 + 0.5)) {
            $p = crc32_pp(pack('V', $p), $seed);
            push @all, [ $p, $i, scalar @all ];
        }
    }
    @all = sort { $a->[0] <=> $b->[0] || $a->[2] <=> $b->[2] } @all;
    @point = map { $_->[0] } @all;
    @owner = map { $_->[1] } @all;
}

sub perl_pick_with {
    my ($crc) = @_;
    return sub {
        my $h = $crc->($_[0]);
        my ($lo, $hi) = (0, scalar @point);
        while ($lo < $hi) {
            my $mid = ($lo + $hi) >> 1;
            if ($point[$mid] < $h) { $lo = $mid + 1 } else { $hi = $mid }
        }
        $lo = 0 if $lo == @point;
        return $servers[ $owner[$lo] ];
    };
}
my $perl_pick    = perl_pick_with($have_string_crc32 ? \&String::CRC32::crc32 : \&crc32_pp);
my $perl_pick_pp = perl_pick_with(\&crc32_pp);

# ---- keys: 10-40 bytes ----
my $state = 42;
my $rand  = sub { $state = ($state * 1103515245 + 12345) % 2147483648; $state >> 8 };
my @keys  = map { my $n = 10 + $rand->() % 31; join '', map { chr(0x21 + $rand->() % 94) } 1 .. $n } 1 .. $opt{keys};
my @batches = map { [ @keys[ $_ * 100 .. $_ * 100 + 99 ] ] } 0 .. int(@keys / 100) - 1;

# ---- every variant must agree before anything is timed ----
for my $k (@keys) {
    my $want = $ring->pick($k);
    die "pure-Perl ketama disagrees on '$k'\n" if $perl_pick->($k) ne $want || $perl_pick_pp->($k) ne $want;
}
die "pick_multi disagrees\n" if join(',', map { $ring->pick_multi(@$_) } @batches)
                             ne join(',', map { $ring->pick($_) } map { @$_ } @batches);

# ---- timing: each variant runs its loop over all keys until `seconds` have passed ----
my %variant = (
    empty      => sub { my $r; for my $k (@keys) { $r = $k } },
    noop       => sub { my $r; for my $k (@keys) { $r = $noop->noop($k) } },
    pick       => sub { my $r; for my $k (@keys) { $r = $ring->pick($k) } },
    pick_index => sub { my $r; for my $k (@keys) { $r = $ring->pick_index($k) } },
    perl       => sub { my $r; for my $k (@keys) { $r = $perl_pick->($k) } },
    'perl-crc' => sub { my $r; for my $k (@keys) { $r = $perl_pick_pp->($k) } },
    multi      => sub { my @r; for my $b (@batches) { @r = $ring->pick_multi(@$b) } },
    'noop-multi' => sub { my @r; for my $b (@batches) { @r = $noop->noop_multi(@$b) } },
);
my @order = ('empty', 'noop', 'pick', 'pick_index', 'multi', 'noop-multi', 'perl', 'perl-crc');

# --variant NAME --loops N: run one variant N times over all keys, untimed (for
# valgrind --tool=callgrind: instructions per key = (I(2N) - I(N)) / (N x keys)).
if (defined $opt{variant}) {
    my $code = $variant{ $opt{variant} } or die "unknown variant $opt{variant} (@order)\n";
    $code->() for 1 .. $opt{loops};
    exit 0;
}

# Each run cycles through the variants for `seconds` x (number of variants), a slot of 10 passes
# over the keys (or the 10 batches) at a time, so that every variant sees the same machine. Before
# each slot 16 MiB are written, which evicts everything from the caches: the first pass of a slot
# is the "cold" figure (a pick in a program that did other work in between), the other nine the
# steady state ("warm", the usual microbenchmark figure). A run's figure is the median of its passes
# (a preempted pass is an outlier, not a shift); the result is the median of the runs.
sub now { clock_gettime(CLOCK_MONOTONIC) }
my $thrash = 'x' x (16 << 20);
my (%samples, %cold);
$variant{$_}->() for @order;    # warm up
for my $run (1 .. $opt{runs}) {
    my (%pass, %first);
    my $until = now() + $opt{seconds} * @order;
    while (now() < $until) {
        for my $name (@order) {
            $thrash =~ tr/xy/yx/;
            for my $i (1 .. 10) {
                my $t0 = now();
                $variant{$name}->();
                my $ns = (now() - $t0) / @keys * 1e9;
                if ($i == 1) { push @{ $first{$name} }, $ns } else { push @{ $pass{$name} }, $ns }
            }
        }
    }
    push @{ $samples{$_} }, median(@{ $pass{$_} }) for @order;
    push @{ $cold{$_} }, median(@{ $first{$_} }) for @order;
}
my %ns = map { ($_ => median(@{ $samples{$_} })) } @order;
my %ns_cold = map { ($_ => median(@{ $cold{$_} })) } @order;

sub median {
    my @s = sort { $a <=> $b } @_;
    return @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
}

printf "SameRing::Selector %s, perl %vd, cmf ketama, %d servers x %d points, %d keys of 10-40 bytes\n",
    $SameRing::Selector::VERSION, $^V, scalar @servers, $POINTS, scalar @keys;
printf "pinned to CPU %s; median of %d runs (each: median of passes, variants interleaved);\n"
     . "ns per key including the Perl loop (net = minus the empty loop; cold = first pass after the caches\n"
     . "were flushed)\n\n",
    $ENV{SAMERING_BENCH_PINNED} // 'none', $opt{runs};
my %label = (
    empty        => 'empty loop',
    noop         => 'XS no-op ($noop->noop($k))',
    pick         => '$ring->pick($k)',
    pick_index   => '$ring->pick_index($k)',
    multi        => '$ring->pick_multi(100 keys), per key',
    'noop-multi' => 'XS no-op multi (100 keys), per key',
    perl         => 'Perl ketama, ' . ($have_string_crc32 ? 'String::CRC32' : 'Perl crc32 (String::CRC32 missing)'),
    'perl-crc'   => 'Perl ketama, Perl crc32',
);
printf "  %-44s %9s %9s %9s   %s\n", 'variant', 'gross ns', 'net ns', 'cold ns', 'runs (gross)';
for my $name (@order) {
    printf "  %-44s %9.1f %9.1f %9.1f   %s\n", $label{$name}, $ns{$name}, $ns{$name} - $ns{empty},
        $ns_cold{$name}, join ' ', map { sprintf '%.1f', $_ } @{ $samples{$name} };
}

my @ratios = (
    [ 'pick / XS no-op floor (gross)',          $ns{pick} / $ns{noop},     '<= 1.5' ],
    [ 'Perl ketama (String::CRC32) / pick',     $ns{perl} / $ns{pick},     '>= 20' ],
    [ 'Perl ketama (Perl crc32) / pick',        $ns{'perl-crc'} / $ns{pick}, '>= 20' ],
    [ 'pick_multi per key / pick',              $ns{multi} / $ns{pick},    '<= 0.5' ],
    [ 'pick_multi per key / no-op multi floor', $ns{multi} / $ns{'noop-multi'}, '' ],
    [ 'cold: pick / XS no-op floor',            $ns_cold{pick} / $ns_cold{noop}, '' ],
    [ 'cold: pick_multi per key / pick',        $ns_cold{multi} / $ns_cold{pick}, '' ],
);
print "\n";
printf "  %-44s %7.2f   %s\n", @$_[0, 1], length $_->[2] ? "target $_->[2]" : '' for @ratios;
