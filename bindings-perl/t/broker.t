# SameRing::Selector over samering-broker (broker => SOCKET) and its shared memory (shm_dir => DIR,
# broker => SOCKET + shm => 1), against a real broker started here by PID (SAMERING_BROKER_BIN):
#   - parity: every vector file of fixtures/vectors is a ring of one broker (named after its
#     file), checked through the broker (pick, pick_index, pick_multi), its shm dir and shm => 1;
#   - reload: a spec file replaced atomically + SIGHUP: the handles report the next generation and
#     the new servers' strings, also while strings of the old generation are still being used;
#   - fork: 16 children share an inherited broker selector and an inherited shm selector;
#   - errors: no broker, unknown ring, bad arguments, broker killed (pick croaks; the same handle
#     works again once a broker is back), a stopped broker (timeout).
# Expected servers come from the vector files (made by the real peers) only.
use strict;
use warnings;
use File::Spec;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Select;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);
use Test::More;
use SameRingTest qw(vector_files read_vector vectors_dir);
use SameRingTest::Broker;
BEGIN { SameRingTest::Broker->need }
use SameRing::Selector;

my $TIMEOUT = 60;    # seconds: the bound of every wait below

my $dir = tempdir('samering-perl-broker-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# ---- the vectors, each written as a spec file and served as a ring named after its file ----

sub address_of { my ($s) = @_; $s->{host} . ':' . (defined $s->{port} ? $s->{port} : 11211) }

sub write_file {
    my ($path, $bytes) = @_;
    open my $fh, '>:raw', $path or die "$path: $!\n";
    print {$fh} $bytes or die "$path: $!\n";
    close $fh or die "$path: $!\n";
}

# Replaces a file the way config managers do: a temporary file, then rename.
sub write_atomically {
    my ($path, $bytes) = @_;
    write_file("$path.tmp", $bytes);
    rename "$path.tmp", $path or die "rename $path.tmp: $!\n";
}

my @files = vector_files();
ok(scalar @files, 'the vectors directory ' . vectors_dir() . ' has vector files') or BAIL_OUT('no vector files');

my (%vector, @names);
mkdir "$dir/specs" or die "mkdir: $!\n";
for my $path (@files) {
    my ($name) = (File::Spec->splitpath($path))[2] =~ /\A(.+)\.json\z/;
    my $v = read_vector($path);
    my $spec = $v->{doc}{spec};
    my @cases = @{ $v->{doc}{cases} };
    my @servers = map { address_of($_) } @{ $spec->{servers} };
    $vector{$name} = {
        spec_json => $v->{spec_json},
        flavor    => $spec->{flavor},
        servers   => \@servers,
        keys      => [ map { pack 'H*', $_->[0] } @cases ],
        want      => [ map { $_->[1] } @cases ],                 # server index, from the peer
        want_addr => [ map { $servers[ $_->[1] ] } @cases ],     # its "host:port"
        peer      => $v->{doc}{peer},
    };
    write_file("$dir/specs/$name.json", $v->{spec_json});
    push @names, $name;
}

# Two rings whose server sets share no address: "reload" starts as the first and becomes the second.
my ($FROM, $TO) = ('cmf-ketama-3srv-U', 'gomemcache-10srv-hostnames');
for ($FROM, $TO) { BAIL_OUT("vector file $_.json is missing") unless $vector{$_} }
my %from_addr = map { $_ => 1 } @{ $vector{$FROM}{servers} };
is(scalar(grep { $from_addr{$_} } @{ $vector{$TO}{servers} }), 0,
   "$FROM and $TO have no server in common (every key moves on reload)");
write_file("$dir/reload.json", $vector{$FROM}{spec_json});

my $broker = SameRingTest::Broker->start(
    dir   => $dir,
    rings => { (map { ($_ => "$dir/specs/$_.json") } @names), reload => "$dir/reload.json" },
    timeout => $TIMEOUT);
note 'samering-broker pid ', $broker->pid, ' with ', scalar(@names) + 1, ' rings';

# Compares one list of answers with the expected one: the number of differences (0 = pass), with
# the first few shown.
sub same_answers {
    my ($got, $want, $keys, $what) = @_;
    my @bad = grep { ($got->[$_] // 'undef') ne ($want->[$_] // 'undef') } 0 .. $#$want;
    push @bad, 'count' if @$got != @$want;
    is(scalar @bad, 0, $what) or diag join "\n", map {
        $_ eq 'count' ? 'got ' . scalar(@$got) . ' answers for ' . scalar(@$want) . ' keys'
                      : 'key ' . unpack('H*', $keys->[$_]) . ": want $want->[$_], got " . ($got->[$_] // 'undef')
    } @bad[0 .. ($#bad < 4 ? $#bad : 4)];
}

# ---- parity ----
subtest 'parity: every vector file through the broker, its shm dir and shm => 1' => sub {
    for my $name (@names) {
        my $v = $vector{$name};
        my @keys = @{ $v->{keys} };
        my $bsel = eval { SameRing::Selector->new(broker => $broker->socket, ring => $name) };
        if (!ok($bsel, "$name: broker selector")) { diag $@; next }
        is($bsel->source, 'broker', "$name: source is broker");
        is_deeply([ $bsel->servers ], $v->{servers}, "$name: the broker's servers are the spec's");
        is($bsel->flavor, $v->{flavor}, "$name: flavor");
        same_answers([ map { $bsel->pick_index($_) } @keys ], $v->{want}, \@keys,
                     "$name: broker pick_index equals $v->{peer} on " . scalar(@keys) . ' keys');
        same_answers([ map { $bsel->pick($_) } @keys ], $v->{want_addr}, \@keys, "$name: broker pick");
        same_answers([ $bsel->pick_multi(@keys) ], $v->{want_addr}, \@keys, "$name: broker pick_multi");

        my $s = eval { SameRing::Selector->new(shm_dir => $broker->shm_dir, ring => $name) };
        if (!ok($s, "$name: shm selector")) { diag $@; next }
        is($s->source, 'shm', "$name: source is shm");
        is($s->generation, $bsel->generation, "$name: shm and broker are at the same generation");
        is_deeply([ $s->servers ], $v->{servers}, "$name: shm servers");
        same_answers([ map { $s->pick($_) } @keys ], $v->{want_addr}, \@keys, "$name: shm pick");
        same_answers([ $s->pick_multi(@keys) ], $v->{want_addr}, \@keys, "$name: shm pick_multi");

        my $bs = eval { SameRing::Selector->new(broker => $broker->socket, ring => $name, shm => 1) };
        if (!ok($bs, "$name: shm selector by the broker's socket")) { diag $@; next }
        is($bs->source, 'shm', "$name: shm => 1 maps the shared memory");
        same_answers([ $bs->pick_multi(@keys) ], $v->{want_addr}, \@keys, "$name: shm => 1 pick_multi");
    }
};

subtest 'a key the flavor refuses is undef, not an error' => sub {
    my ($name) = grep { $vector{$_}{flavor} =~ /\A(?:libmemcached|nginx|twemproxy)\z/ } @names;
    # fixtures/vectors always has libmemcached, nginx and twemproxy files: their absence is a failure
    return fail('no vector file of a flavor that refuses the empty key (libmemcached, nginx, twemproxy)') unless $name;
    my $v = $vector{$name};
    for my $sel (SameRing::Selector->new(broker => $broker->socket, ring => $name),
                 SameRing::Selector->new(shm_dir => $broker->shm_dir, ring => $name)) {
        my $src = $sel->source;
        is($sel->pick(''), undef, "$name ($src): pick('') is undef");
        is($sel->pick_index(''), undef, "$name ($src): pick_index('') is undef");
        is_deeply([ $sel->pick_multi('', $v->{keys}[0], '') ], [ undef, $v->{want_addr}[0], undef ],
                  "$name ($src): pick_multi answers the other keys");
    }
};

subtest 'keys that are not plain strings: overloaded, tied, numbers' => sub {
    my $name = 'cmf-ketama-3srv-W';
    my $v = $vector{$name} or return fail("vector file $name.json is missing");
    my @keys = @{ $v->{keys} }[0 .. 9];
    my @want = @{ $v->{want_addr} }[0 .. 9];
    {
        package SameRingTest::StringKey;
        use overload '""' => sub { ${ $_[0] } }, fallback => 1;
    }
    {
        package SameRingTest::TiedKey;
        sub TIESCALAR { my ($class, $k) = @_; bless \$k, $class }
        sub FETCH     { ${ $_[0] } }
    }
    for my $sel (SameRing::Selector->new(broker => $broker->socket, ring => $name),
                 SameRing::Selector->new(shm_dir => $broker->shm_dir, ring => $name)) {
        my $src = $sel->source;
        my @objects = map { my $k = $_; bless \$k, 'SameRingTest::StringKey' } @keys;
        same_answers([ $sel->pick_multi(@objects) ], \@want, \@keys, "$src: overloaded keys");
        my @tied;
        tie $tied[$_], 'SameRingTest::TiedKey', $keys[$_] for 0 .. $#keys;
        same_answers([ $sel->pick_multi(@tied) ], \@want, \@keys, "$src: tied keys");
        same_answers([ map { $sel->pick($_) } @tied ], \@want, \@keys, "$src: tied keys, one by one");
        is_deeply([ $sel->pick_multi(42, '42', 4.5, '4.5') ],
                  [ ($sel->pick('42')) x 2, ($sel->pick('4.5')) x 2 ], "$src: a number picks as its string");
    }
};

# ---- reload ----

# Polls until $cond->() is true; false after $TIMEOUT seconds.
sub eventually {
    my ($cond) = @_;
    my $deadline = time + $TIMEOUT;
    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.01;
    }
    return $cond->();
}

subtest 'reload: a new spec file and SIGHUP give the next generation and the new servers' => sub {
    my ($from, $to) = @vector{ $FROM, $TO };
    my $bsel = SameRing::Selector->new(broker => $broker->socket, ring => 'reload');
    my $s  = SameRing::Selector->new(shm_dir => $broker->shm_dir, ring => 'reload');
    my $bs = SameRing::Selector->new(broker => $broker->socket, ring => 'reload', shm => 1);
    my $gen = $bsel->generation;
    ok($gen >= 1, "generation $gen before the reload");
    for my $sel ($bsel, $s, $bs) {
        is($sel->generation, $gen, $sel->source . ': same generation');
        same_answers([ $sel->pick_multi(@{ $from->{keys} }) ], $from->{want_addr}, $from->{keys},
                     $sel->source . ": answers as $FROM before the reload");
    }

    # The broker selector's strings of the old generation stay valid while they are used: the
    # loop aliases them (unreferenced, on the stack) while the handle moves to the new ring.
    my (@seen, $moved);
    for my $server ($bsel->pick_multi(@{ $from->{keys} })) {
        if (!defined $moved) {
            write_atomically("$dir/reload.json", $to->{spec_json});
            $broker->hup;
            $moved = eventually(sub { $bsel->pick($to->{keys}[0]); $bsel->generation > $gen });
        }
        push @seen, $server;
    }
    ok($moved, 'the broker selector sees a new generation after SIGHUP') or diag $broker->log_text;
    same_answers(\@seen, $from->{want_addr}, $from->{keys},
                 'strings of the old generation held across the reload keep their value');

    is($bsel->generation, $gen + 1, 'the generation grew by one');
    is_deeply([ $bsel->servers ], $to->{servers}, "servers are now $TO\'s");
    is($bsel->flavor, $to->{flavor}, 'flavor is the new one');
    ok(eventually(sub { $s->generation > $gen }), 'the shm selector follows the published generation');
    ok(eventually(sub { $bs->generation > $gen }), 'the shm => 1 selector too');
    for my $sel ($bsel, $s, $bs) {
        my $src = $sel->source;
        my @keys = @{ $to->{keys} };
        same_answers([ map { $sel->pick($_) } @keys ], $to->{want_addr}, \@keys, "$src: pick answers as $TO");
        same_answers([ map { $sel->pick_index($_) } @keys ], $to->{want}, \@keys, "$src: pick_index as $TO");
        same_answers([ $sel->pick_multi(@keys) ], $to->{want_addr}, \@keys, "$src: pick_multi as $TO");
        is($sel->generation, $gen + 1, "$src: reports generation " . ($gen + 1));
    }
    # every server changed, so each key of the old ring now names a server of the new one
    my %to_addr = map { $_ => 1 } @{ $to->{servers} };
    my @stale = grep { !$to_addr{ $bsel->pick($_) // '' } } @{ $from->{keys} };
    is(scalar @stale, 0, 'no key answers with a server of the old generation');

    # A handle made after the reload, and a second reload back.
    my $fresh = SameRing::Selector->new(broker => $broker->socket, ring => 'reload');
    is($fresh->generation, $gen + 1, 'a new handle starts at the new generation');
    write_atomically("$dir/reload.json", $from->{spec_json});
    $broker->hup;
    ok(eventually(sub { $s->pick($from->{keys}[0]); $s->generation > $gen + 1 }), 'a second reload is followed (shm)');
    same_answers([ $s->pick_multi(@{ $from->{keys} }) ], $from->{want_addr}, $from->{keys},
                 "shm: answers as $FROM again");
    same_answers([ $bsel->pick_multi(@{ $from->{keys} }) ], $from->{want_addr}, $from->{keys},
                 "broker: pick_multi answers as $FROM again");
    is($bsel->generation, $gen + 2, 'broker: generation ' . ($gen + 2));
};

# ---- fork ----
subtest 'fork: 16 children use an inherited broker selector and shm selector' => sub {
    my $CHILDREN = 16;
    my $name = 'cmf-ketama-64srv-p160';
    my $v = $vector{$name} or return fail("vector file $name.json is missing");
    my @keys = @{ $v->{keys} };
    my $bsel = SameRing::Selector->new(broker => $broker->socket, ring => $name);
    my $s = SameRing::Selector->new(shm_dir => $broker->shm_dir, ring => $name);
    # used before the fork: the children inherit an open connection and a mapping
    is($bsel->pick($keys[0]), $v->{want_addr}[0], 'the parent picks before forking');
    is($s->pick($keys[0]), $v->{want_addr}[0], 'the parent picks from shm before forking');

    # Each child takes the keys from its own offset, so an answer meant for another process
    # (a shared connection) would show as a wrong server.
    my $check = sub {
        my ($child) = @_;
        my @order = map { ($_ + 37 * $child) % @keys } 0 .. $#keys;
        my @k = @keys[@order];
        my @w = @{ $v->{want_addr} }[@order];
        my @wrong;
        for my $sel ($bsel, $s) {
            my @one = map { $sel->pick($_) } @k;
            my @many = $sel->pick_multi(@k);
            for my $i (0 .. $#k) {
                push @wrong, $sel->source . " pick $i" if ($one[$i] // '') ne $w[$i];
                push @wrong, $sel->source . " pick_multi $i" if ($many[$i] // '') ne $w[$i];
            }
        }
        return @wrong ? scalar(@wrong) . ' wrong: ' . join(', ', @wrong[0 .. ($#wrong < 4 ? $#wrong : 4)])
                      : 'ok ' . scalar(@k);
    };

    my (%pid_of, %reader, %got);
    for my $child (1 .. $CHILDREN) {
        pipe(my $r, my $w) or die "pipe: $!";
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if (!$pid) {
            close $r;
            alarm $TIMEOUT;
            my $text = (eval { $check->($child) } // "error: $@") . "\n";
            syswrite($w, $text) == length $text or _exit(3);
            close $w;
            exit 0 if $child % 2;    # odd: the child's handles are freed in it (closing its connection)
            _exit(0);                # even: no destruction at all
        }
        close $w;
        $pid_of{$child} = $pid;
        $reader{ fileno $r } = [ $child, $r ];
        $got{$child} = '';
    }
    my $deadline = time + $TIMEOUT;
    my $select = IO::Select->new(map { $_->[1] } values %reader);
    while ($select->count && time < $deadline) {
        for my $fh ($select->can_read($deadline - time)) {
            my $child = $reader{ fileno $fh }[0];
            my $n = sysread($fh, $got{$child}, 4096, length $got{$child});
            if (!$n) { $select->remove($fh); close $fh }
        }
    }
    ok(!$select->count, "all $CHILDREN children reported within ${TIMEOUT}s");
    my %status;
    for my $child (sort { $a <=> $b } keys %pid_of) {
        my $pid = $pid_of{$child};
        my $end = time + 10;
        my $r = waitpid($pid, POSIX::WNOHANG());
        while ($r == 0 && time < $end) {
            sleep 0.01;
            $r = waitpid($pid, POSIX::WNOHANG());
        }
        if ($r == $pid) { $status{$child} = $? }
        else            { kill 'KILL', $pid; waitpid($pid, 0); $status{$child} = 'killed' }
    }
    for my $child (sort { $a <=> $b } keys %pid_of) {
        is($got{$child}, 'ok ' . scalar(@keys) . "\n", "child $child: every answer right (broker and shm)");
        is($status{$child}, 0, "child $child exited cleanly");
    }
    same_answers([ map { $bsel->pick($_) } @keys ], $v->{want_addr}, \@keys, 'the parent still picks through the broker');
    same_answers([ $bsel->pick_multi(@keys) ], $v->{want_addr}, \@keys, 'and pick_multi');
    same_answers([ $s->pick_multi(@keys) ], $v->{want_addr}, \@keys, 'and from shm');
};

is($broker->stop, 0, 'the broker stops on SIGTERM with status 0');

# ---- a broker restarted without --shm-dir counts generations from 1 again ----
subtest 'restart without a shm dir, another spec, the same generation number' => sub {
    my $rdir = tempdir('renumber-XXXXXX', DIR => $dir);
    my ($from, $to) = @vector{$FROM, $TO};
    write_file("$rdir/main.json", $from->{spec_json});
    my $rb = SameRingTest::Broker->start(dir => $rdir, rings => { main => "$rdir/main.json" }, no_shm => 1,
                                         timeout => $TIMEOUT);
    my $sel = SameRing::Selector->new(broker => $rb->socket, ring => 'main', timeout => 2000);
    same_answers([ map { $sel->pick($_) } @{ $from->{keys} } ], $from->{want_addr}, $from->{keys},
                 "$FROM before the restart");
    my $gen = $sel->generation;
    $rb->stop;
    write_file("$rdir/main.json.tmp", $to->{spec_json});
    rename "$rdir/main.json.tmp", "$rdir/main.json" or die "rename: $!";
    $rb->restart;
    same_answers([ map { $sel->pick($_) } @{ $to->{keys} } ], $to->{want_addr}, $to->{keys},
                 "$TO after the restart: the new broker's servers, not the old list's");
    cmp_ok($sel->generation, '>', $gen,
           'a higher generation: a restarted broker never reuses one (issue 20, defect 10), even without a shm dir');
    same_answers([ $sel->pick_multi(@{ $to->{keys} }) ], $to->{want_addr}, $to->{keys}, 'pick_multi too');
    is_deeply([ $sel->servers ], $to->{servers}, 'servers lists the new ring');
    is($rb->stop, 0, 'stopped with SIGTERM');
};

# ---- errors ----
subtest 'errors' => sub {
    my $edir = tempdir('errors-XXXXXX', DIR => $dir);
    my $name = 'cmf-ketama-10srv-weights';
    my $v = $vector{$name} or return fail("vector file $name.json is missing");
    my @keys = @{ $v->{keys} };
    my $eb = SameRingTest::Broker->start(dir => $edir, rings => { main => "$dir/specs/$name.json" },
                                         timeout => $TIMEOUT);
    my $sock = $eb->socket;

    my $err = sub { my @args = @_; eval { SameRing::Selector->new(@args); 1 } ? 'no error' : $@ };
    like($err->(broker => "$edir/none.sock", ring => 'main'),
         qr/\A\S.*none\.sock.*\bat \Q$0\E line \d+/s, 'no broker at the path: croaks naming the path, at the caller');
    like($err->(broker => $sock, ring => 'nope'), qr/no ring named "nope"/, 'unknown ring: croaks');
    like($err->(shm_dir => $eb->shm_dir, ring => 'nope'), qr/nope\.ctl/, 'unknown ring in the shm dir: croaks naming the file');
    like($err->(shm_dir => "$edir/none", ring => 'main'), qr/none/, 'no such shm dir: croaks');
    like($err->(broker => $sock, ring => 'bad/name'), qr/invalid ring name/, 'a ring name the broker cannot have');
    like($err->(broker => $sock), qr/needs ring => NAME/, 'broker without ring');
    like($err->(shm_dir => $eb->shm_dir), qr/needs ring => NAME/, 'shm_dir without ring');
    like($err->(broker => $sock, ring => 'main', servers => ['a:1']), qr/takes ring, timeout and shm only \(got servers\)/,
         'broker and servers');
    like($err->(broker => $sock, ring => 'main', spec => 'x.json'), qr/\(got spec\)/, 'broker and spec');
    like($err->(broker => $sock, ring => 'main', shm_dir => 'x'), qr/not both/, 'broker and shm_dir');
    like($err->(shm_dir => 'x', ring => 'main', timeout => 5), qr/takes ring and owner_uid only \(got timeout\)/, 'shm_dir and timeout');
    like($err->(shm_dir => 'x', ring => 'main', shm => 1), qr/takes ring and owner_uid only \(got shm\)/, 'shm_dir and shm');
    like($err->(shm => 1, ring => 'main'), qr/ring, shm need broker => SOCKET/, 'shm without broker');
    like($err->(ring => 'main'), qr/ring needs broker => SOCKET/, 'ring alone');
    like($err->(flavor => 'cmf', servers => ['a:1'], timeout => 5), qr/timeout needs broker/, 'timeout on a local selector');
    like($err->(broker => $sock, ring => 'main', timeout => -1), qr/timeout must be a whole number/, 'negative timeout');
    like($err->(broker => $sock, ring => 'main', timeout => '1.5'), qr/timeout must be a whole number/, 'fractional timeout');
    like($err->(broker => $sock, ring => ''), qr/ring must be a non-empty string/, 'empty ring');
    like($err->(broker => undef, ring => 'main'), qr/broker must be a non-empty string/, 'undefined socket');
    like($err->(broker => "$sock\0x", ring => 'main'), qr/NUL/, 'a NUL in the path');

    my $bsel = SameRing::Selector->new(broker => $sock, ring => 'main', timeout => 2000);
    my $s = SameRing::Selector->new(shm_dir => $eb->shm_dir, ring => 'main');
    my $gen = $bsel->generation;
    same_answers([ $bsel->pick_multi(@keys) ], $v->{want_addr}, \@keys, 'picks before the broker dies');

    $eb->kill9;
    like(eval { $bsel->pick($keys[0]); 'no error' } // $@, qr/\ASameRing::Selector: \S.*broker\.sock.* at \Q$0\E line \d+/s,
         'broker killed: pick croaks with the message');
    like(eval { $bsel->pick_multi(@keys); 'no error' } // $@, qr/\ASameRing::Selector: \S/, 'pick_multi croaks too');
    like(eval { $bsel->pick_index($keys[0]); 'no error' } // $@, qr/\ASameRing::Selector: \S/, 'pick_index croaks too');
    like($err->(broker => $sock, ring => 'main'), qr/broker\.sock/, 'a new broker selector cannot be made');
    same_answers([ $s->pick_multi(@keys) ], $v->{want_addr}, \@keys, 'the shm selector keeps answering from its mapping');
    same_answers([ SameRing::Selector->new(shm_dir => $eb->shm_dir, ring => 'main')->pick_multi(@keys) ],
                 $v->{want_addr}, \@keys, 'and a new one can be made from the published files');

    $eb->restart;
    same_answers([ map { $bsel->pick($_) } @keys ], $v->{want_addr}, \@keys, 'the same handle works again after a restart');
    same_answers([ $bsel->pick_multi(@keys) ], $v->{want_addr}, \@keys, 'pick_multi too');
    is($bsel->generation, $gen, 'a restart with the same spec and shm dir keeps the generation');

    # A broker that does not answer (stopped): the timeout ends the request with a croak.
    my $t = SameRing::Selector->new(broker => $sock, ring => 'main', timeout => 200);
    is($t->pick($keys[0]), $v->{want_addr}[0], 'timeout => 200: picks');
    $eb->signal('STOP');
    like(eval { $t->pick($keys[0]); 'no error' } // $@, qr/\ASameRing::Selector: \S/, 'a stopped broker: pick croaks');
    like(eval { $t->pick_multi(@keys); 'no error' } // $@, qr/\ASameRing::Selector: \S/, 'pick_multi croaks');
    $eb->signal('CONT');
    is($t->pick($keys[0]), $v->{want_addr}[0], 'the broker continues: the handle works again');
    is($eb->stop, 0, 'stopped with SIGTERM');

    my $plain = SameRingTest::Broker->start(dir => tempdir('noshm-XXXXXX', DIR => $dir),
                                            rings => { main => "$dir/specs/$name.json" }, no_shm => 1,
                                            timeout => $TIMEOUT);
    like($err->(broker => $plain->socket, ring => 'main', shm => 1), qr/publishes no shared memory/,
         'shm => 1 on a broker without --shm-dir: croaks');
    my $nb = SameRing::Selector->new(broker => $plain->socket, ring => 'main', shm => 0);
    is($nb->source, 'broker', 'shm => 0 is a broker selector');
    is($plain->stop, 0, 'stopped with SIGTERM');

    my $local = SameRing::Selector->new(json => $v->{spec_json});
    is($local->source, 'local', 'a local selector: source local');
    is($local->generation, 0, 'generation 0');
};

done_testing;
