# Fork: one Cache::Memcached::SameRing object, made in the parent and connected to every server
# before the fork, shared by 32 children that run at once. Each child writes, reads (get,
# get_multi, gets + cas, incr) and deletes its own keys; a child that got another process's reply
# on an inherited socket would see a value that is not its own. The parent's connections still
# answer afterwards, and every child's last writes are visible to it. Every wait is bounded and
# children are killed by PID.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Select;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(time sleep);
use Test::More;
use SameRingTest::Memcached;
BEGIN { SameRingTest::Memcached->need('Cache::Memcached::SameRing') }

my $CHILDREN = 32;
my $KEYS     = 150;
my $TIMEOUT  = 120;

my $mc   = SameRingTest::Memcached->start(3);
my $memd = Cache::Memcached::SameRing->new({ servers => [ $mc->addresses ], ketama_points => 150,
                                             namespace => "fork$$:", io_timeout => 5 });
# Connect to every server in the parent (each key of the parent lands on some node).
my @parent_keys = map { "parent:$_" } 1 .. 30;
$memd->set($_, "parent value $_") for @parent_keys;
is(scalar keys %{ $memd->get_multi(@parent_keys) }, 30, 'the parent is connected and has its keys');
is(scalar keys %{ $memd->server_versions }, 3, 'the parent talks to every server');

sub child {
    my ($n) = @_;
    my @errors;
    my @keys = map { "child$n:$_" } 1 .. $KEYS;
    my %want = map { $_ => "$_ written by $$ " . ('x' x ($n * 7 % 100)) } @keys;
    for my $round (1 .. 3) {
        for my $k (@keys) {
            push @errors, "set $k" unless $memd->set($k, $want{$k});
            my $got = $memd->get($k);
            push @errors, "get $k: " . ($got // 'undef') unless defined $got && $got eq $want{$k};
        }
        my $all = $memd->get_multi(@keys, @parent_keys);
        for my $k (@keys) {
            push @errors, "get_multi $k" unless defined $all->{$k} && $all->{$k} eq $want{$k};
        }
        for my $k (@parent_keys) {
            push @errors, "get_multi parent $k" unless defined $all->{$k} && $all->{$k} eq "parent value $k";
        }
        my $counter = "child$n:counter";
        $memd->set($counter, 0) if $round == 1;
        my $v = $memd->incr($counter, $n);
        push @errors, "incr $counter: " . ($v // 'undef') unless defined $v && $v == $n * $round;
        my $gets = $memd->gets($keys[0]);
        push @errors, 'gets' unless $gets && $gets->[1] eq $want{ $keys[0] };
        push @errors, 'cas' unless $gets && $memd->cas($keys[0], $gets->[0], $want{ $keys[0] });
        last if @errors;
    }
    $memd->delete($_) for @keys[ 0 .. 9 ];
    push @errors, 'delete' if grep { defined $memd->get($_) } @keys[ 0 .. 9 ];
    return @errors ? join('; ', @errors[ 0 .. ($#errors < 4 ? $#errors : 4) ]) : 'ok';
}

my (%pid_of, %reader_of, %report);
for my $n (1 .. $CHILDREN) {
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        close $r;
        my $answer = eval { child($n) } // "died: $@";
        print {$w} "$answer\n";
        close $w;
        # a normal exit: the object is destroyed in the child too (it must not touch the
        # parent's connections while doing so)
        exit 0;
    }
    close $w;
    $pid_of{$n} = $pid;
    $reader_of{$n} = $r;
}

my $select = IO::Select->new(values %reader_of);
my %n_of = map { fileno($reader_of{$_}) => $_ } keys %reader_of;
my $deadline = time + $TIMEOUT;
while ($select->count && time < $deadline) {
    for my $fh ($select->can_read(1)) {
        my $n = $n_of{ fileno $fh };
        my $line = <$fh>;
        $report{$n} = defined $line ? $line : 'no report';
        chomp $report{$n};
        $select->remove($fh);
        close $fh;
    }
}
for my $n (keys %pid_of) {
    my $pid = $pid_of{$n};
    my $waited = 0;
    while (waitpid($pid, WNOHANG) == 0) {
        if ($waited++ > 100) { kill 'KILL', $pid; waitpid($pid, 0); last }
        sleep 0.05;
    }
}

my @bad = map { "child $_: " . ($report{$_} // 'timed out') } grep { ($report{$_} // '') ne 'ok' } 1 .. $CHILDREN;
is(scalar @bad, 0, "$CHILDREN children each read only their own replies") or diag join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)];

# The parent's inherited connections were never written to by a child: they still answer in step.
my $after = $memd->get_multi(@parent_keys);
is(scalar(grep { ($after->{$_} // '') eq "parent value $_" } @parent_keys), 30, 'the parent still reads its keys');
is($memd->get('child7:77'), "child7:77 written by $pid_of{7} " . ('x' x (49)), "the parent sees a child's write");
is($memd->get('child7:1'), undef, "and a child's delete");
ok($memd->set('parent:after', 'yes') && $memd->get('parent:after') eq 'yes', 'the parent writes and reads');

$mc->stop;
done_testing;
