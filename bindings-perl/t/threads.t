# ithreads: a cloned interpreter shares the immutable ring; each frees it once (no double free,
# no use after free when the creating thread's copy goes first).
use strict;
use warnings;
use Config;
use Test::More;
BEGIN {
    plan skip_all => 'this perl has no ithreads' unless $Config{useithreads};
    plan skip_all => 'threads.pm is not available' unless eval { require threads; 1 };
}
use SameRing::Selector;

my @keys = map { "key:$_" } 1 .. 500;
my $ring = SameRing::Selector->new(flavor => 'cmf', ketama_points => 150, servers => [ map { "10.0.0.$_:11211" } 1 .. 8 ]);
my $want = join ',', $ring->pick_multi(@keys);

my @threads = map { threads->create(sub { join ',', map { $ring->pick($_) } @keys }) } 1 .. 4;
is($_->join, $want, 'a thread picks with the cloned selector') for @threads;

# The creating thread lets go first; the clone keeps working, then frees the ring.
my $local = SameRing::Selector->new(flavor => 'gomemcache', servers => [ 'a:1', 'b:1', 'c:1' ]);
my $expect = join ',', $local->pick_multi(@keys);
my $t = threads->create(sub { sleep 1; join ',', $local->pick_multi(@keys) });
undef $local;
is($t->join, $expect, 'the clone outlives the original');

# A selector made inside a thread is freed with it.
is(threads->create(sub {
    my $r = SameRing::Selector->new(flavor => 'cmf', servers => [ 'x:1', 'y:1' ]);
    scalar $r->servers;
})->join, 2, 'a selector made in a thread');
is(join(',', $ring->pick_multi(@keys)), $want, 'the main thread still picks');
done_testing;
