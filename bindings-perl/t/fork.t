# Fork safety: a selector built in the parent answers identically in 64 forked children that run
# at once. Each child picks its own ~1000 keys (pick, pick_index and pick_multi) and reports over a
# pipe; every wait is bounded and children are killed by PID.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Select;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(time sleep);
use Test::More;
use SameRingTest qw(random_keys);
use SameRing::Selector;

my $CHILDREN = 64;
my $KEYS     = 1000;
my $TIMEOUT  = 60;    # seconds for the whole run

my @rings = (
    SameRing::Selector->new(flavor => 'cmf', ketama_points => 150,
                            servers => [ map { { address => "10.0.0.$_:11211", weight => 0.5 + $_ / 4 } } 1 .. 10 ]),
    SameRing::Selector->new(flavor => 'cmf', servers => [ map { "10.0.1.$_:11211" } 1 .. 7 ]),
    SameRing::Selector->new(flavor => 'gomemcache', servers => [ map { "10.0.2.$_:11211" } 1 .. 5 ]),
);

sub answers {
    my ($child) = @_;
    my @keys = random_keys($KEYS, 1000 + $child);
    my @lines;
    for my $r (0 .. $#rings) {
        my $ring = $rings[$r];
        push @lines, join ',', map { $ring->pick($_) } @keys;
        push @lines, join ',', map { $ring->pick_index($_) } @keys;
        push @lines, join ',', $ring->pick_multi(@keys);
    }
    return join("\n", @lines) . "\n";
}

my (%pid_of, %reader_of, %got);
for my $child (1 .. $CHILDREN) {
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        close $r;
        alarm $TIMEOUT;
        my $text = eval { answers($child) } // "error: $@";
        my $off = 0;
        while ($off < length $text) {
            my $n = syswrite($w, $text, length($text) - $off, $off);
            _exit(3) unless defined $n;
            $off += $n;
        }
        close $w;
        # Odd children exit normally, so their copies of the selectors are freed in them (the
        # parent's must not notice); even ones leave with _exit, skipping all destruction.
        exit 0 if $child % 2;
        _exit(0);
    }
    close $w;
    $pid_of{$child} = $pid;
    $reader_of{ fileno $r } = [ $child, $r ];
    $got{$child} = '';
}

# Read every pipe to EOF at once (a child blocks when its pipe is full).
my $deadline = time + $TIMEOUT;
my $sel = IO::Select->new(map { $_->[1] } values %reader_of);
while ($sel->count && time < $deadline) {
    for my $fh ($sel->can_read($deadline - time)) {
        my $child = $reader_of{ fileno $fh }[0];
        my $n = sysread($fh, $got{$child}, 65536, length $got{$child});
        if (!$n) { $sel->remove($fh); close $fh }
    }
}
ok(!$sel->count, "all $CHILDREN children reported within ${TIMEOUT}s");

# Reap; kill by PID whatever is left.
my %status;
for my $child (sort { $a <=> $b } keys %pid_of) {
    my $pid = $pid_of{$child};
    my $until = time + 5;
    while (time < $until) {
        if (waitpid($pid, WNOHANG) == $pid) { $status{$child} = $?; last }
        sleep 0.01;
    }
    next if exists $status{$child};
    kill 'KILL', $pid;
    waitpid($pid, 0);
    $status{$child} = 'killed';
}
is(scalar(grep { $status{$_} ne '0' } keys %status), 0, 'every child exited 0')
    or diag join ', ', map { "child $_: $status{$_}" } grep { $status{$_} ne '0' } sort { $a <=> $b } keys %status;

# computed after the children have exited (and half of them freed their copies)
my @differ = grep { $got{$_} ne answers($_) } sort { $a <=> $b } keys %got;
is(scalar @differ, 0, "all $CHILDREN children's picks equal the parent's (" . 3 * 3 * $KEYS . ' answers each)')
    or diag "children that differ: @differ";
done_testing;
