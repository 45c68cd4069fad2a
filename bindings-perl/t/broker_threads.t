# ithreads and broker/shm selectors: such a handle owns a connection or a mapping that follows
# reloads, which the C API allows to one thread at a time. A thread that uses a clone of one gets a
# croak saying so (not a shared socket); a selector it makes itself works; the creating thread's
# handle keeps working, and freeing the clone (in any order) frees the handle once.
use strict;
use warnings;
use Config;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
BEGIN {
    plan skip_all => 'this perl was built without ithreads (a property of the interpreter, not a missing peer)'
        unless $Config{useithreads};
    # a perl built with ithreads has threads.pm in core: failing to load it is a failure, not a skip
    require threads;
}
use SameRingTest qw(vector_files read_vector);
use SameRingTest::Broker;
BEGIN { SameRingTest::Broker->need }
use SameRing::Selector;

my ($file) = grep { m{/cmf-ketama-3srv-W\.json\z} } vector_files();
ok($file, 'vector file cmf-ketama-3srv-W.json') or BAIL_OUT('vector file missing');
my $v = read_vector($file);
my @servers = map { $_->{host} . ':' . ($_->{port} // 11211) } @{ $v->{doc}{spec}{servers} };
my @keys = map { pack 'H*', $_->[0] } @{ $v->{doc}{cases} };
my $want = join ',', map { $servers[ $_->[1] ] } @{ $v->{doc}{cases} };

my $dir = tempdir('samering-perl-broker-threads-XXXXXX', TMPDIR => 1, CLEANUP => 1);
open my $fh, '>:raw', "$dir/main.json" or die "$dir/main.json: $!\n";
print {$fh} $v->{spec_json};
close $fh or die "$!\n";
my $broker = SameRingTest::Broker->start(dir => $dir, rings => { main => "$dir/main.json" }, timeout => 60);
my ($socket, $shm_dir) = ($broker->socket, $broker->shm_dir);   # threads get no copy of $broker

my $b = SameRing::Selector->new(broker => $broker->socket, ring => 'main');
my $s = SameRing::Selector->new(shm_dir => $broker->shm_dir, ring => 'main');
ok(join(',', $b->pick_multi(@keys)) eq $want, 'the main thread picks through the broker');

for my $sel ($b, $s) {
    my $src = $sel->source;
    my $err = threads->create(sub { eval { $sel->pick($keys[0]); 'no error' } // $@ })->join;
    like($err, qr/\ASameRing::Selector: this $src selector belongs to the thread that made it/,
         "$src: a thread using the cloned handle croaks");
    my $multi = threads->create(sub { eval { $sel->pick_multi(@keys); 'no error' } // $@ })->join;
    like($multi, qr/belongs to the thread that made it/, "$src: pick_multi too");
    is(threads->create(sub { $sel->source })->join, $src, "$src: source is readable in the thread");
}

my $own = threads->create(sub {
    my $mine = SameRing::Selector->new(broker => $socket, ring => 'main');
    my $shm  = SameRing::Selector->new(shm_dir => $shm_dir, ring => 'main');
    join ',', $mine->pick_multi(@keys), '|', $shm->pick_multi(@keys);
})->join;
ok(defined $own && $own eq "$want,|,$want", 'a thread makes its own broker and shm selectors')
    or diag 'got ', defined $own ? substr($own, 0, 200) . '...' : 'undef (the thread died)';

# The creating thread lets go first: the clone is freed later, once.
my $late = SameRing::Selector->new(broker => $socket, ring => 'main');
my $t = threads->create(sub { sleep 1; ref $late });
undef $late;
is($t->join, 'SameRing::Selector', 'a clone outliving the original is freed with its thread');

ok(join(',', $b->pick_multi(@keys)) eq $want, 'the main thread still picks through the broker');
ok(join(',', map { $s->pick($_) } @keys) eq $want, 'and from shm');
is($broker->stop, 0, 'the broker stops on SIGTERM');
done_testing;
