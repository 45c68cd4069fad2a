# ithreads: each thread gets its own Cache::Memcached::SameRing object (CLONE builds it from the
# constructor's arguments, as CMF's does), with its own connections; threads run at once, each on
# its own keys; objects made inside a thread, and the original after the threads, keep working.
use strict;
use warnings;
use Config;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use SameRingTest::Memcached;
BEGIN {
    plan skip_all => 'this perl was built without ithreads (a property of the interpreter, not a missing peer)' unless $Config{useithreads};
    SameRingTest::Memcached->need('threads', 'Cache::Memcached::SameRing');
}

my $mc   = SameRingTest::Memcached->start(2);
my %args = (servers => [ $mc->addresses ], ketama_points => 150, namespace => 'thr:', nowait => 1);
my $memd = Cache::Memcached::SameRing->new({ %args });
ok($memd->set(before => 'main'), 'the main thread is connected');

my @threads = map {
    my $n = $_;
    threads->create(sub {
        my $bad = 0;
        for my $i (1 .. 200) {
            my $k = "t$n:$i";
            $memd->set($k, "$n/$i");              # void context, nowait: noreply
            $bad++ unless ($memd->get($k) // '') eq "$n/$i";
        }
        my $own = Cache::Memcached::SameRing->new({ %args });
        $bad++ unless $own->get("t$n:7") eq "$n/7";
        $bad++ unless ($memd->get('before') // '') eq 'main';
        return $bad;
    });
} 1 .. 4;
is($_->join, 0, 'a thread reads back every value it wrote') for @threads;
$memd->nowait_push;
is(scalar keys %{ $memd->get_multi(map { "t3:$_" } 1 .. 200) }, 200, "the main thread sees a thread's writes");
ok($memd->set(after => 1) && $memd->get('after') == 1, 'the original object still works');

$mc->stop;
done_testing;
