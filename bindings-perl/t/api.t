# The Perl API: constructors, pick / pick_index / pick_multi / servers / flavor, server lists in
# Cache::Memcached::Fast and Cache::Memcached form, and how keys and hosts become bytes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempfile);
use Test::More;
use SameRingTest qw(random_keys);
use SameRing::Selector;

my @keys = (random_keys(2000, 7), '', 'a', "\x00\x01\xff", 'x' x 1000);

sub picks { my ($ring) = @_; [ map { $ring->pick_index($_) } @keys ] }

my $json_ketama = '{"flavor":"cmf","options":{"ketama_points":150},"servers":['
    . '{"host":"10.0.0.1","port":11211,"weight":1},{"host":"10.0.0.2","port":"011211","weight":2.5},'
    . '{"host":"cache-c","port":11212,"weight":0.7}]}';

subtest 'constructors agree: json, spec file, CMF-style arguments, hash reference' => sub {
    my $from_json = SameRing::Selector->new(json => $json_ketama);
    isa_ok($from_json, 'SameRing::Selector');

    my ($fh, $file) = tempfile(UNLINK => 1);
    print {$fh} $json_ketama;
    close $fh;
    my $from_file = SameRing::Selector->new(spec => $file);

    my @servers = ('10.0.0.1:11211', { address => '10.0.0.2:011211', weight => 2.5 },
                   [ 'cache-c:11212', 0.7 ]);
    my $from_args = SameRing::Selector->new(flavor => 'cmf', servers => \@servers, ketama_points => 150);
    my $from_hash = SameRing::Selector->new({ flavor => 'cmf', servers => \@servers, ketama_points => '150' });

    my $want = picks($from_json);
    is_deeply(picks($from_file), $want, 'spec file = json');
    is_deeply(picks($from_args), $want, 'servers/options arguments = json');
    is_deeply(picks($from_hash), $want, 'a single hash reference = json');
    is_deeply([ $from_args->servers ], [ '10.0.0.1:11211', '10.0.0.2:011211', 'cache-c:11212' ],
              'servers: host:port as written (port text kept)');
    is(scalar $from_args->servers, 3, 'servers in scalar context: the count');
    is($from_args->flavor, 'cmf', 'flavor');
    my %seen = map { $_ => 1 } @{ $want };
    is_deeply([ sort keys %seen ], [ 0, 1, 2 ], 'every server gets keys');
};

subtest 'pick, pick_index, pick_multi and servers agree' => sub {
    my $ring = SameRing::Selector->new(json => $json_ketama);
    my @servers = $ring->servers;
    my @one_by_one = map { $ring->pick($_) } @keys;
    is_deeply(\@one_by_one, [ map { $servers[ $ring->pick_index($_) ] } @keys ], 'pick = servers[pick_index]');
    is_deeply([ $ring->pick_multi(@keys) ], \@one_by_one, 'pick_multi = map pick');
    is_deeply([ $ring->pick_multi() ], [], 'pick_multi of no keys');
    is_deeply([ $ring->pick_multi($keys[0]) ], [ $one_by_one[0] ], 'pick_multi of one key');
    my @many = (@keys) x 20;
    is_deeply([ $ring->pick_multi(@many) ], [ (@one_by_one) x 20 ], 'pick_multi of ' . @many . ' keys');
    is(scalar(() = $ring->pick_multi(@keys)), scalar @keys, 'one result per key');

    my $s = $ring->pick('user:42');
    $s .= '-changed';
    is($ring->pick('user:42') . '-changed', $s, 'a returned string is a copy');
    my @l = $ring->pick_multi('user:42');
    $l[0] = 'x';
    is(($ring->servers)[ $ring->pick_index('user:42') ], $ring->pick('user:42'), 'server list unchanged');
};

subtest 'Cache::Memcached form and weights' => sub {
    my $a = SameRing::Selector->new(flavor => 'cache-memcached',
                                    servers => [ [ '10.1.0.1:11211', 3 ], '10.1.0.2:11211', [ '10.1.0.3:11211' ] ]);
    my $b = SameRing::Selector->new(json => '{"flavor":"cache-memcached","servers":['
        . '{"host":"10.1.0.1","port":11211,"weight":3},{"host":"10.1.0.2","port":11211},{"host":"10.1.0.3","port":11211}]}');
    is_deeply(picks($a), picks($b), '[ "host:port", weight ] = spec weight');
    my $c = SameRing::Selector->new(flavor => 'cmf', servers => [ { address => 'h1:1', weight => undef }, 'h2:1' ]);
    my $d = SameRing::Selector->new(flavor => 'cmf', servers => [ 'h1:1', 'h2:1' ]);
    is_deeply(picks($c), picks($d), 'weight => undef is weight 1 (as CMF)');
    my $e = SameRing::Selector->new(flavor => 'cmf', servers => [ { address => 'h1:1', noreply => 1 }, 'h2:1' ]);
    is_deeply(picks($e), picks($d), 'noreply is accepted and does not move keys');
    # a weight with more digits than Perl prints must keep every bit of its double:
    # (int)(100 x 0.0049999999999999966 + 0.5) is 0, but 0.005 (what "%.15g" prints) gives 1
    my $w = 0.0049999999999999966;
    my $g = eval { SameRing::Selector->new(flavor => 'cmf', ketama_points => 100,
                                           servers => [ { address => 'h1:1', weight => $w },
                                                        { address => 'h2:1', weight => $w } ]) };
    like($@, qr/^options\.ketama_points: ketama_points x weight rounds to 0 points/,
         'the weight reached the core with all its digits');
};

subtest 'addresses: last colon, port as written, hosts as bytes' => sub {
    my $ring = SameRing::Selector->new(flavor => 'cmf', ketama_points => 150,
                                       servers => [ '[::1]:11211', 'a:b:11212', 'h:011211', 'h:11213' ]);
    is_deeply([ $ring->servers ], [ '[::1]:11211', 'a:b:11212', 'h:011211', 'h:11213' ], 'split at the last colon');

    my $host_chars = "cach\x{e9}-\x{263a}";
    my $host_bytes = $host_chars;
    utf8::encode($host_bytes);
    my $r1 = SameRing::Selector->new(flavor => 'cmf', ketama_points => 150, servers => [ "$host_chars:1", 'x:1' ]);
    my $r2 = SameRing::Selector->new(flavor => 'cmf', ketama_points => 150, servers => [ "$host_bytes:1", 'x:1' ]);
    is_deeply(picks($r1), picks($r2), 'a host with the UTF-8 flag hashes as its UTF-8 bytes');
    is(($r2->servers)[0], "$host_bytes:1", 'servers gives the host bytes');
    ok(utf8::is_utf8($host_chars), "the caller's host string keeps its flag");

    my $json_chars = qq({"flavor":"cmf","options":{"ketama_points":150},"servers":[{"host":"$host_chars","port":1},{"host":"x","port":1}]});
    my $r3 = SameRing::Selector->new(json => $json_chars);
    is_deeply(picks($r3), picks($r2), 'json => a character string is read as its UTF-8 encoding');

    my $ns = SameRing::Selector->new(flavor => 'cmf', servers => [ 'a:1', 'b:1', 'c:1' ],
                                     namespace => "n\x{263a}:", hash_namespace => 'yes');
    my $ns_bytes = "n\xe2\x98\xba:";
    my $ns2 = SameRing::Selector->new(json => qq({"flavor":"cmf","options":{"namespace":"$ns_bytes","hash_namespace":true},)
                                             . '"servers":[{"host":"a","port":1},{"host":"b","port":1},{"host":"c","port":1}]}');
    is_deeply(picks($ns), picks($ns2), 'namespace bytes and a true flag reach the core');
    my $plain = SameRing::Selector->new(flavor => 'cmf', servers => [ 'a:1', 'b:1', 'c:1' ]);
    my $unhashed = SameRing::Selector->new(flavor => 'cmf', servers => [ 'a:1', 'b:1', 'c:1' ],
                                           namespace => 'n:', hash_namespace => 0, ketama_points => undef);
    is_deeply(picks($unhashed), picks($plain), 'namespace without hash_namespace does not move keys; undef option = not given');
    isnt(join(',', @{ picks($ns) }), join(',', @{ picks($plain) }), 'a hashed namespace moves keys');

    my $quote = SameRing::Selector->new(flavor => 'cmf', servers => [ 'a:1', 'b:1' ], namespace => qq(a"b\\c\n));
    ok($quote, 'a namespace with quote, backslash and newline is escaped correctly');
};

subtest 'keys are bytes; the UTF-8 flag means the UTF-8 encoding' => sub {
    my $ring = SameRing::Selector->new(json => $json_ketama);
    my @chars = ("\x{263a}", "caf\x{e9}", "\x{65e5}\x{672c}\x{8a9e}-key", "\x{1f600}");
    for my $c (@chars) {
        my $flagged = $c;
        utf8::upgrade($flagged);
        my $bytes = $c;
        utf8::encode($bytes);
        is($ring->pick($flagged), $ring->pick($bytes), sprintf('U+%04X...: flagged string = its UTF-8 bytes', ord $c));
        is($ring->pick_index($flagged), $ring->pick_index($bytes), 'pick_index too');
        is_deeply([ $ring->pick_multi($flagged, $bytes) ], [ ($ring->pick($bytes)) x 2 ], 'pick_multi too');
        ok(utf8::is_utf8($flagged), "the caller's key keeps its UTF-8 flag");
        is($flagged, $c, "and its value");
    }
    # "\xE9" is one byte without the flag and two (C3 A9) with it, as on CMF's wire
    my $latin = "\xe9";
    my $upgraded = $latin;
    utf8::upgrade($upgraded);
    is($ring->pick_index($latin), $ring->pick_index("\xe9"), 'unflagged \xE9 is the byte E9');
    is($ring->pick_index($upgraded), $ring->pick_index("\xc3\xa9"), 'upgraded \xE9 is the bytes C3 A9');
    ok(utf8::is_utf8($upgraded), 'the upgraded key is not downgraded');

    is($ring->pick(12345), $ring->pick('12345'), 'a number is picked as its string');
    is($ring->pick(1.5), $ring->pick('1.5'), 'a float too');
    {
        package Stringy;
        use overload '""' => sub { ${ $_[0] } }, fallback => 1;
    }
    my $obj = bless \(my $s = 'user:42'), 'Stringy';
    is($ring->pick($obj), $ring->pick('user:42'), 'an object with "" overloading is picked as its string');
    {
        package CountingTie;
        sub TIESCALAR { my ($c, $v) = @_; bless { v => $v, n => 0 }, $c }
        sub FETCH { $_[0]{n}++; $_[0]{v} }
    }
    tie my $tied, 'CountingTie', 'user:42';
    is($ring->pick($tied), $ring->pick('user:42'), 'a tied key is fetched');
    is(tied($tied)->{n}, 1, 'exactly once');

    my @warnings;
    local $SIG{__WARN__} = sub { push @warnings, @_ };
    is($ring->pick(undef), $ring->pick(''), 'undef is picked as the empty key');
    like($warnings[0] // '', qr/uninitialized/, 'with the usual warning');
};

subtest 'keys a flavor refuses' => sub {
    my $lm = eval { SameRing::Selector->new(flavor => 'libmemcached', servers => [ 'a:1', 'b:1', 'c:1' ]) };
    ok($lm, 'the core has the libmemcached flavor') or diag($@), return;
    ok(!defined $lm->pick(''), 'pick of a refused key (libmemcached: empty) is undef');
    ok(!defined $lm->pick_index(''), 'pick_index too');
    my @r = $lm->pick_multi('a', '', 'b');
    is(scalar @r, 3, 'pick_multi answers every key');
    ok(defined $r[0] && !defined $r[1] && defined $r[2], 'undef only for the refused one');
    is_deeply([ @r[0, 2] ], [ $lm->pick('a'), $lm->pick('b') ], 'the others as pick');
};

subtest 'server names (twemproxy)' => sub {
    my $tw = eval { SameRing::Selector->new(flavor => 'twemproxy',
        servers => [ map { { address => "10.0.0.$_:11211", name => "node$_" } } 1 .. 4 ]) };
    ok($tw, 'the core has the twemproxy flavor') or diag($@), return;
    my $json = SameRing::Selector->new(json => '{"flavor":"twemproxy","servers":['
        . join(',', map { qq({"host":"10.0.0.$_","port":11211,"name":"node$_"}) } 1 .. 4) . ']}');
    is_deeply(picks($tw), picks($json), 'name => ... reaches the spec');
    eval { SameRing::Selector->new(flavor => 'cmf', servers => [ { address => 'a:1', name => 'x' } ]) };
    like($@, qr/^servers\[0\]\.name: /, 'a flavor without names says so');
};

subtest 'one server, many servers' => sub {
    my $one = SameRing::Selector->new(flavor => 'cmf', servers => [ 'only:11211' ], ketama_points => 150);
    is_deeply([ $one->pick_multi(@keys) ], [ ('only:11211') x @keys ], 'one server takes every key');
    for my $flavor (qw(cmf cache-memcached gomemcache)) {
        my $big = SameRing::Selector->new(flavor => $flavor, servers => [ map { "10.9.$_.1:11211" } 1 .. 200 ]);
        my %hit;
        $hit{ $big->pick_index($_) }++ for @keys;
        ok(keys(%hit) > 150, "$flavor, 200 servers: keys spread over " . keys(%hit) . ' servers');
    }
};

subtest 'objects' => sub {
    my $ring = SameRing::Selector->new(json => $json_ketama);
    eval { $$ring = 0 };
    like($@, qr/read-only/, 'the handle scalar is read-only');
    my $forged = bless \(my $x = 0 + $$ring), 'SameRing::Selector';
    eval { $forged->pick('k') };
    like($@, qr/not a SameRing::Selector object/, 'a forged object is refused');
    eval { SameRing::Selector::pick('SameRing::Selector', 'k') };
    like($@, qr/not a SameRing::Selector object/, 'a class name is refused');
    {
        package My::Ring;
        our @ISA = ('SameRing::Selector');
    }
    my $sub = My::Ring->new(json => $json_ketama);
    isa_ok($sub, 'My::Ring');
    is($sub->pick('k'), $ring->pick('k'), 'a subclass picks');
    {
        package DropsRing;    # a tied key whose FETCH drops the last reference to the selector
        sub TIESCALAR { my ($c, $ref) = @_; bless { ref => $ref }, $c }
        sub FETCH { undef ${ $_[0]{ref} }; 'user:42' }
    }
    my $doomed = SameRing::Selector->new(json => $json_ketama);
    tie my $k1, 'DropsRing', \$doomed;
    eval { $doomed->pick($k1) };
    like($@, qr/not a SameRing::Selector object/, 'pick: a key that frees the selector while read: croak, no crash');
    $doomed = SameRing::Selector->new(json => $json_ketama);
    tie my $k2, 'DropsRing', \$doomed;
    is_deeply([ $doomed->pick_multi('a', $k2, 'b') ], [ map { $ring->pick($_) } 'a', 'user:42', 'b' ],
              'pick_multi: a key that frees the selector while read: the call completes');
    ok(!defined $doomed, 'and the selector is gone');

    my $r = $ring->pick('user:42');
    eval { $_ .= '!' for $ring->pick('user:42') };
    like($@, qr/read-only/, 'the returned scalar itself is read-only (an assignment copies it)');
    eval { $_ .= '!' for $ring->pick_multi('user:42') };
    like($@, qr/read-only/, 'also from pick_multi');
    is($ring->pick('user:42'), $r, 'and unchanged');
    for (1 .. 2000) {
        my $tmp = SameRing::Selector->new(flavor => 'cmf', servers => [ map { "h$_:1" } 1 .. 10 ], ketama_points => 150);
        $tmp->pick('k');
    }
    pass('2000 selectors made and freed');
};

done_testing;
