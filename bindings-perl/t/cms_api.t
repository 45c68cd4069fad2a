# Cache::Memcached::SameRing's methods against real memcached (started here on loopback): the
# answers Cache::Memcached::Fast 0.28 gives (1 / "" / undef, "0E0", list and scalar context of the
# _multi calls, nothing in void context), its constructor's checks and warnings, max_size, nowait
# and noreply, namespace changes (re-routed when hashed), gat, flush_all's spread delay, servers
# that are down, compression switched on and off. What each node holds is checked without the
# client (raw text protocol).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use SameRingTest::Memcached;
BEGIN { SameRingTest::Memcached->need('Cache::Memcached::SameRing') }
use SameRing::Selector;

my $mc   = SameRingTest::Memcached->start(3);
my @addr = $mc->addresses;
my %base = (servers => [@addr], ketama_points => 150, io_timeout => 2, connect_timeout => 2);
my $memd = Cache::Memcached::SameRing->new({ %base, namespace => 'api:' });
my $ring = SameRing::Selector->new(flavor => 'cmf', servers => [@addr], ketama_points => 150);
sub node_of { $ring->pick_index($_[0]) }

subtest 'constructor: CMF checks and warnings' => sub {
    like(eval { Cache::Memcached::SameRing->new({ servers => [ [] ] }) } // $@, qr/^server should be \[\$addr, \$weight\]/);
    like(eval { Cache::Memcached::SameRing->new({ servers => [ {} ] }) } // $@, qr/^server should have \{ address => \$addr \}/);
    like(eval { Cache::Memcached::SameRing->new({ servers => [ qr/x/ ] }) } // $@, qr/^Not a hash or array reference/);
    like(eval { Cache::Memcached::SameRing->new({ servers => [ [ 'h:1', -1 ] ] }) } // $@, qr/^Server weight should be positive/);
    like(eval { Cache::Memcached::SameRing->new({ servers => 'h:1' }) } // $@, qr/^Not an array reference/);
    like(eval { Cache::Memcached::SameRing->new({ servers => ['/tmp/memcached.sock'] }) } // $@, qr/Unix socket/,
         'a Unix socket path is refused (no place in a ring spec)');
    like(eval { Cache::Memcached::SameRing->new({ %base, namespace => 'a b' }) } // $@, qr/namespace/,
         'a namespace libmemcached cannot send is refused');
    my @w;
    local $SIG{__WARN__} = sub { push @w, $_[0] };
    Cache::Memcached::SameRing->new({ compress_algo => 1, foo => 1, bar => 1 }); my $line = __LINE__;
    is_deeply(\@w, [ "compress_algo was removed in 0.08, use compress_methods at $0 line $line.\n",
                     "Unknown arguments: bar, foo at $0 line $line.\n" ], 'the warnings name the caller');
    @w = ();
    Cache::Memcached::SameRing->new({ foo => 1, check_args => 'SKIP' });
    is_deeply(\@w, [], 'check_args => "skip"');
    my $none = Cache::Memcached::SameRing->new({});
    is($none->set(k => 1), undef, 'no servers: set is undef');
    is_deeply([ $none->get('k') ], [], 'no servers: get returns nothing');
    is_deeply($none->get_multi('k'), {}, 'no servers: get_multi is {}');
    is_deeply($none->server_versions, {}, 'no servers: server_versions is {}');
    is($none->namespace('x:'), '', 'no servers: namespace still kept');
    is($none->namespace, 'x:');
};

subtest 'answers of single commands' => sub {
    is($memd->set(a => 'v1'), 1, 'set: 1');
    is($memd->add(a => 'v2'), '', 'add of an existing key: ""');
    is($memd->replace(nope => 'v'), '', 'replace of a missing key: ""');
    is($memd->append(a => '+'), 1, 'append');
    is($memd->prepend(a => '-'), 1, 'prepend');
    is($memd->get('a'), '-v1+', 'get');
    my $gets = $memd->gets('a');
    is(ref $gets, 'ARRAY', 'gets: [cas, value]');
    is($gets->[1], '-v1+');
    is($memd->cas('a', $gets->[0], 'v3'), 1, 'cas: 1');
    is($memd->cas('a', $gets->[0], 'v4'), '', 'cas after a change: ""');
    is($memd->cas('missing', 12345, 'v'), '', 'cas of a missing key: ""');
    is_deeply([ $memd->get('missing') ], [], 'get of a miss returns nothing');
    is($memd->set(n => 5), 1);
    is($memd->incr('n'), 6, 'incr');
    is($memd->incr('n', 10), 16, 'incr by 10');
    is($memd->decr('n', 100), '0E0', 'decr below zero: "0E0"');
    is($memd->incr('missing'), '', 'incr of a missing key: ""');
    is($memd->incr('a'), undef, 'incr of a non-number: undef');
    is($memd->touch('a', 100), 1, 'touch');
    is($memd->touch('missing', 100), '', 'touch of a missing key: ""');
    is($memd->delete('a'), 1, 'delete');
    is($memd->remove('a'), '', 'remove (delete) of a missing key: ""');
    is($memd->set('bad key', 1), undef, 'a key with a space: undef');
    is($memd->get(''), undef, 'the empty key: undef');
    my @w;
    local $SIG{__WARN__} = sub { push @w, $_[0] };
    $memd->delete('x', 10);
    like($w[0] // '', qr/^non-zero delete expiration time is ignored/, 'delete with a delay warns');
};

subtest '_multi calls: list and scalar context' => sub {
    my @res = $memd->set_multi([ m1 => 1 ], [ m2 => 2, 100 ], [ 'bad key', 3 ]);
    is_deeply(\@res, [ 1, 1, undef ], 'set_multi in list context');
    my $res = $memd->add_multi([ m1 => 1 ], [ m3 => 3 ]);
    is_deeply($res, { m1 => '', m3 => 1 }, 'add_multi in scalar context');
    is_deeply($memd->get_multi(qw(m1 m2 m3 m4 m1), 'bad key'), { m1 => 1, m2 => 2, m3 => 3 }, 'get_multi');
    my $g = $memd->gets_multi(qw(m1 m2));
    ok(ref $g->{m1} eq 'ARRAY' && $g->{m1}[1] eq '1' && $g->{m1}[0] > 0, 'gets_multi: [cas, value]');
    is_deeply([ $memd->cas_multi([ m1 => @{ $g->{m1} } ], [ m2 => 999_999_999, 'x' ]) ], [ 1, '' ], 'cas_multi');
    is_deeply([ $memd->incr_multi('m3', [ 'm2', 5 ], [ 'm4' ]) ], [ 4, 7, '' ], 'incr_multi');
    is_deeply(scalar $memd->decr_multi([ 'm3', 10 ]), { m3 => '0E0' }, 'decr_multi in scalar context');
    is_deeply([ $memd->touch_multi([ 'm1', 100 ], ['m4']) ], [ 1, '' ], 'touch_multi');
    is_deeply([ $memd->delete_multi('m1', [ 'm2' ], 'm4') ], [ 1, 1, '' ], 'delete_multi');
    is_deeply(scalar $memd->delete_multi, {}, 'no arguments: {}');
    is_deeply([ $memd->set_multi ], [], 'no arguments: ()');
    $memd->set(keep => 'old');
    ok(!eval { $memd->set_multi([ keep => 'new' ], [ 'x' ]); 1 }, 'a malformed item croaks');
    ok(!eval { $memd->set_multi([ keep => 'new' ], 'x'); 1 }, 'an item that is not an array croaks');
    is($memd->get('keep'), 'old', 'and nothing was stored');
};

subtest 'void context: nothing returned; nowait and noreply' => sub {
    my @r = sub { $memd->set(v => 1); return }->();
    is_deeply(\@r, [], 'void set');
    my $nowait = Cache::Memcached::SameRing->new({ %base, nowait => 1, namespace => 'nw:' });
    my $other  = Cache::Memcached::SameRing->new({ %base, namespace => 'nw:' });
    $nowait->set("k$_" => $_) for 1 .. 50;
    $nowait->nowait_push;
    is(scalar keys %{ $other->get_multi(map { "k$_" } 1 .. 50) }, 50, 'nowait sets are there after nowait_push');
    $nowait->delete("k$_") for 1 .. 50;
    $nowait->nowait_push;
    is_deeply($other->get_multi(map { "k$_" } 1 .. 50), {}, 'nowait deletes too');
    is($nowait->set(x => 1), 1, 'nowait does not change a command whose answer is used');

    my $noreply = Cache::Memcached::SameRing->new({ %base, namespace => 'nr:',
        servers => [ { address => $addr[0], noreply => 1 }, @addr[ 1, 2 ] ] });
    $noreply->set("n$_" => $_) for 1 .. 60;
    $noreply->nowait_push;
    is(scalar keys %{ $noreply->get_multi(map { "n$_" } 1 .. 60) }, 60, 'noreply => 1 on one server');
};

subtest 'max_size, big values, compression' => sub {
    my $small = Cache::Memcached::SameRing->new({ %base, max_size => 1000, namespace => 'ms:' });
    is($small->set(big => 'x' x 1001), undef, 'over max_size: undef');
    is_deeply([ $mc->holders('ms:big') ], [], 'and nothing was sent');
    is($small->set(fits => 'x' x 1000), 1, 'max_size itself fits');
    is($memd->set(huge => 'y' x (1024 * 1024 + 10)), undef, 'over the server limit (1 MB): undef');
    my $c = Cache::Memcached::SameRing->new({ %base, compress_threshold => 100, namespace => 'cz:' });
    $c->set(z => 'z' x 5000);
    is($mc->raw_get(node_of('z'), 'cz:z')->{flags}, 2, 'compressed (flag 0x2)');
    $c->set(r => 'abcdefghij');
    is($mc->raw_get(node_of('r'), 'cz:r')->{flags}, 0, 'under the threshold: not compressed');
    $c->enable_compress(0);
    $c->set(z2 => 'z' x 5000);
    is($mc->raw_get(node_of('z2'), 'cz:z2')->{flags}, 0, 'enable_compress(0)');
    $c->enable_compress(1);
    $c->set(z3 => 'z' x 5000);
    is($mc->raw_get(node_of('z3'), 'cz:z3')->{flags}, 2, 'enable_compress(1)');
    is($c->get('z3'), 'z' x 5000, 'decompressed');
    my $incompressible = join '', map { chr int rand 256 } 1 .. 2000;
    $c->set(rand => $incompressible);
    is($mc->raw_get(node_of('rand'), 'cz:rand')->{flags}, 0, 'compress_ratio: stored as it is');
};

subtest 'utf8' => sub {
    my $u = Cache::Memcached::SameRing->new({ %base, utf8 => 1, namespace => 'u:' });
    my $b = Cache::Memcached::SameRing->new({ %base, namespace => 'u:' });
    my $s = "caf\x{e9} \x{263a}";
    is($u->set(s => $s), 1);
    my $got = $u->get('s');
    ok($got eq $s && utf8::is_utf8($got), 'utf8 => 1: a character string back');
    my $bytes = $s;
    utf8::encode($bytes);
    is($b->get('s'), $bytes, 'utf8 => 0 reads the UTF-8 bytes');
    is($mc->raw_get(node_of('s'), 'u:s')->{flags}, 4, 'flag 0x4');
    my $line = __LINE__ + 1;
    is(eval { $b->set(w => "\x{263a}"); 1 } // $@, "Wide character in subroutine entry at $0 line $line.\n",
       'utf8 => 0: a wide character croaks at the caller');
    is($b->set(l => "caf\x{e9}"), 1, 'utf8 => 0: a Latin-1 character string is downgraded');
    is($mc->raw_get(node_of('l'), 'u:l')->{data}, "caf\xe9", 'to one byte per character');
};

subtest 'namespace' => sub {
    my $h = Cache::Memcached::SameRing->new({ %base, namespace => 'one:', hash_namespace => 1 });
    is($h->namespace, 'one:');
    is($h->namespace('two:'), 'one:', 'namespace($new) returns the old one');
    $h->set(k => 'in two');
    my $two = SameRing::Selector->new(flavor => 'cmf', servers => [@addr], ketama_points => 150,
                                      namespace => 'two:', hash_namespace => 1);
    is_deeply([ $mc->holders('two:k') ], [ $two->pick_index('k') ], 'hashed: placed by the new namespace');
    ok(!eval { $h->namespace('a b'); 1 }, 'a namespace that cannot be sent croaks');
    is($h->namespace, 'two:', 'and the old one stays');
    is($h->get('k'), 'in two');
    $h->namespace('');
    is($h->get('two:k'), 'in two', 'namespace "" and the full key: the same node (hashed namespace)');
};

subtest 'gat, gats' => sub {
    $memd->set(g => 'gv');
    is($memd->gat(100, 'g'), 'gv', 'gat');
    my $gats = $memd->gats(100, 'g');
    is($gats->[1], 'gv', 'gats');
    ok($memd->cas('g', $gats->[0], 'gv2'), 'its cas is current');
    is_deeply($memd->gat_multi(100, qw(g nope)), { g => 'gv2' }, 'gat_multi');
    is_deeply([ keys %{ $memd->gats_multi(100, 'g') } ], ['g'], 'gats_multi');
    is($memd->gat(-1, 'g'), 'gv2', 'gat with a past expiration time still returns the value');
    is($memd->get('g'), undef, 'and the item is gone');
    is_deeply([ $memd->gat(100, 'nope') ], [], 'gat of a miss returns nothing');
    is_deeply($memd->gat_multi, {}, 'gat_multi without arguments');
};

subtest 'flush_all spreads its delay; server_versions; disconnect_all' => sub {
    my $v = $memd->server_versions;
    is_deeply([ sort keys %$v ], [ sort @addr ], 'server_versions: every server, under its address');
    like((values %$v)[0], qr/^\d+\.\d+\.\d+/, 'a version number');
    my %key_on;
    for my $i (0 .. 200) {
        my $n = node_of("f$i");
        $key_on{$n} //= "f$i";
    }
    is(scalar keys %key_on, 3, 'a key on each node');
    $memd->set($_, 1) for values %key_on;
    is_deeply($memd->flush_all(30), { map { $_ => 1 } @addr }, 'flush_all(30): every server says OK');
    # 30 s over three servers: 30, 15, 0: only the last one is empty now
    ok(defined $mc->raw_get(0, "api:$key_on{0}") && defined $mc->raw_get(1, "api:$key_on{1}"), 'first two: later');
    ok(!defined $mc->raw_get(2, "api:$key_on{2}"), 'the last one at once');
    $memd->flush_all;
    ok(!defined $mc->raw_get(0, "api:$key_on{0}"), 'flush_all: at once');
    $memd->disconnect_all;
    is($memd->set(after => 1), 1, 'disconnect_all: the next command reconnects');
};

subtest 'a server that is down' => sub {
    my $mc2 = SameRingTest::Memcached->start(2);
    my @a = $mc2->addresses;
    my $d = Cache::Memcached::SameRing->new({ servers => [@a], connect_timeout => 1, io_timeout => 1,
                                              max_failures => 2, failure_timeout => 60 });
    my $r = SameRing::Selector->new(flavor => 'cmf', servers => [@a]);
    my ($on0) = grep { $r->pick_index($_) == 0 } map { "d$_" } 1 .. 100;
    my ($on1) = grep { $r->pick_index($_) == 1 } map { "d$_" } 1 .. 100;
    is($d->set($on1, 'x'), 1, 'both up');
    $mc2->kill_node(1);
    is($d->set($on1, 'y'), undef, 'a key of the dead node: undef');
    is($d->set($on0, 'y'), 1, 'a key of the live node: stored (no rehash)');
    is_deeply([ keys %{ $d->server_versions } ], [ $a[0] ], 'server_versions: the live one');
    is_deeply($d->get_multi($on0, $on1), { $on0 => 'y' }, 'get_multi: the live one');
    $mc2->stop;
};

ok(!eval { Cache::Memcached::SameRing::get('not an object', 'k'); 1 }, 'a method on a non-object croaks');

$mc->stop;
done_testing;
