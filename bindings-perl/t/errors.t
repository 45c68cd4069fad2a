# Errors croak with the core's message (which names the field), from the caller's line.
use strict;
use warnings;
use File::Temp qw(tempdir);
use Test::More;
use SameRing::Selector;

my $dir = tempdir(CLEANUP => 1);

sub croaks {
    my ($args, $re, $name) = @_;
    my $line = __LINE__ + 1;
    my $err = eval { SameRing::Selector->new(@$args); 1 } ? '' : $@;
    like($err, $re, $name) or return;
    like($err, qr/ at \Q${\__FILE__}\E line $line\.\n\z/, "  ... reported at the caller's line");
}

my @two = ('a:11211', 'b:11211');

# ---- arguments of new ----
croaks([], qr/^SameRing::Selector->new: give one of spec => FILE, json => TEXT, or flavor => NAME, servers => /,
       'no source');
croaks([ 'json' ], qr/^SameRing::Selector->new: arguments must be name => value pairs/, 'odd list');
croaks([ json => '{}', servers => \@two ], qr/^SameRing::Selector->new: give one of/, 'two sources');
croaks([ json => '{}', ketama_points => 1 ], qr/^SameRing::Selector->new: json => \.\.\. takes no other arguments \(got ketama_points\)/,
       'options beside json');
croaks([ spec => undef ], qr/^SameRing::Selector->new: spec must be defined/, 'spec => undef');

# ---- spec files ----
croaks([ spec => "$dir/missing.json" ], qr/^\Q$dir\E\/missing\.json: cannot read spec file: No such file or directory/,
       'missing file');
{
    open my $fh, '>', "$dir/bad.json" or die $!;
    print {$fh} '{"flavor":"cmf","servers":[{"host":"a","port":1},{"host":"b","port":70000}]}';
    close $fh;
}
croaks([ spec => "$dir/bad.json" ], qr/^\Q$dir\E\/bad\.json: servers\[1\]\.port: must be 1-65535 \(got 70000\)/,
       'bad spec file: the path, then the field');
croaks([ spec => $dir ], qr/^\Q$dir\E: /, 'a directory is not a spec');

# ---- spec JSON ----
croaks([ json => '{' ], qr/^invalid JSON at byte 2: /, 'JSON syntax: the byte position');
croaks([ json => '' ], qr/^invalid JSON at byte 1: /, 'empty JSON');
croaks([ json => '[]' ], qr/^a spec must be a JSON object with flavor, options, servers/, 'not an object');
croaks([ json => '{"servers":[{"host":"a"}]}' ], qr/^flavor: is required/, 'no flavor');
croaks([ json => '{"flavor":"nope","servers":[{"host":"a"}]}' ],
       qr/^flavor: unknown flavor "nope" \(this build knows: cmf, cache-memcached, gomemcache\b/, 'unknown flavor');
croaks([ json => '{"flavor":"cmf","servers":[{"host":"a","port":1}],"extra":1}' ], qr/^extra: unknown field/,
       'unknown top-level field');
croaks([ json => '{"flavor":"cmf","servers":[{"host":"a","prot":1}]}' ], qr/^servers\[0\]\.prot: unknown field/,
       'unknown server field');

# ---- servers in CMF / Cache::Memcached form ----
croaks([ flavor => 'cmf', servers => [ 'a:1', 'b:70000' ] ], qr/^servers\[1\]\.port: must be 1-65535 \(got 70000\)/,
       'port out of range');
croaks([ flavor => 'cmf', servers => [ 'a:x' ] ],
       qr/^servers\[0\]\.port: must be a number 1-65535 or a string of decimal digits \(got "x"\)/, 'port not digits');
croaks([ flavor => 'cmf', servers => [ 'a:' ] ], qr/^servers\[0\]\.port: must be a number 1-65535 or a string of decimal digits \(got ""\)/,
       'empty port');
croaks([ flavor => 'cmf', servers => [ '/var/run/memcached.sock' ] ],
       qr/^servers\[0\]: "\/var\/run\/memcached\.sock" has no ":port" \(a Unix socket path cannot be written in a spec\)/,
       'no port (a Unix socket)');
croaks([ flavor => 'cmf', servers => [ 'a b:1' ] ], qr/^servers\[0\]\.host: must not contain spaces or control characters/,
       'space in host');
croaks([ flavor => 'cmf', servers => [ ':1' ] ], qr/^servers\[0\]\.host: must not be empty/, 'empty host');
croaks([ flavor => 'cmf', servers => [ "caf\xe9:1" ] ], qr/^servers\[0\]\.host: must be valid UTF-8/,
       'host bytes that are not UTF-8');
croaks([ flavor => 'cmf', servers => [ 'a:1', 'a:01' ] ], qr/^servers\[1\]: duplicate server a:1/, 'duplicate server');
croaks([ flavor => 'cmf', servers => [] ], qr/^servers: at least one server is required/, 'no servers');
croaks([ flavor => 'cmf', servers => 'a:1' ], qr/^servers: must be an array reference/, 'servers not an array');
croaks([ flavor => 'cmf', servers => { address => 'a:1' } ], qr/^servers: must be an array reference/, 'servers a hash');
croaks([ flavor => 'cmf', servers => [ 'a:1', sub { } ] ], qr/^servers\[1\]: must be "host:port", \{ address => \.\.\., weight => \.\.\. \} or \[ "host:port", weight \]/,
       'a code reference');
croaks([ flavor => 'cmf', servers => [ undef ] ], qr/^servers\[0\]: the address is undefined/, 'undef server');
croaks([ flavor => 'cmf', servers => [ { weight => 2 } ] ], qr/^servers\[0\]\.address: is required/, 'hash without address');
croaks([ flavor => 'cmf', servers => [ { address => 'a:1', wieght => 2 } ] ],
       qr/^servers\[0\]\.wieght: unknown key \(expected address, weight, noreply, name\)/, 'misspelt key');
croaks([ flavor => 'cmf', servers => [ [ 'a:1', 2, 3 ] ] ], qr/^servers\[0\]: must be \[ "host:port", weight \]/,
       'array of three');
croaks([ flavor => 'cmf', servers => [ { address => 'a:1', weight => 0 }, 'b:1' ] ],
       qr/^servers\[0\]\.weight: must be a number > 0 \(got 0\)/, 'weight 0');
croaks([ flavor => 'cmf', servers => [ 'b:1', [ 'a:1', -2 ] ] ], qr/^servers\[1\]\.weight: must be a number > 0 \(got -2\)/,
       'negative weight');
croaks([ flavor => 'cmf', servers => [ { address => 'a:1', weight => 'heavy' } ] ],
       qr/^servers\[0\]\.weight: must be a number > 0 \(got string\)/, 'weight not a number');
croaks([ flavor => 'cmf', servers => [ { address => 'a:1', weight => 9**9**9 } ] ],
       qr/^servers\[0\]\.weight: must be a finite number \(got Inf\)/, 'infinite weight');
croaks([ flavor => 'cmf', servers => [ { address => 'a:1', weight => 0.1 }, { address => 'b:1', weight => 0.1 } ] ],
       qr/^servers: the weights add up to less than 0\.5/, 'CMF compatible mode: weights below 0.5');
croaks([ flavor => 'cache-memcached', servers => [ [ 'a:1', 1.5 ], 'b:1' ] ],
       qr/^servers\[0\]\.weight: must be an integer/, 'Cache::Memcached: fractional weight');
croaks([ flavor => 'gomemcache', servers => [ [ 'a:1', 2 ], 'b:1' ] ], qr/^servers\[0\]\.weight: gomemcache has no weights/,
       'gomemcache: weight without repeat_by_weight');

# ---- flavor and options ----
croaks([ servers => \@two ], qr/^flavor: is required/, 'servers without flavor');
croaks([ flavor => 'memcachier', servers => \@two ], qr/^flavor: unknown flavor "memcachier"/, 'unknown flavor');
croaks([ flavor => 'cmf', servers => \@two, foo => 1 ], qr/^options\.foo: unknown option for flavor cmf/, 'unknown option');
croaks([ flavor => 'cmf', servers => \@two, connect_timeout => 1 ], qr/^options\.connect_timeout: unknown option for flavor cmf/,
       'a client-only CMF option');
croaks([ flavor => 'cmf', servers => \@two, ketama_points => 'abc' ], qr/^options\.ketama_points: must be an integer/,
       'ketama_points not a number');
croaks([ flavor => 'cmf', servers => \@two, ketama_points => 1.5 ], qr/^options\.ketama_points: must be an integer/,
       'ketama_points fractional');
croaks([ flavor => 'cmf', servers => \@two, ketama_points => -1 ], qr/^options\.ketama_points: must be 0-10000000 \(got -1\)/,
       'ketama_points negative');
croaks([ flavor => 'cmf', servers => [ { address => 'a:1', weight => 0.001 }, { address => 'b:1', weight => 0.001 } ],
         ketama_points => 150 ], qr/^options\.ketama_points: ketama_points x weight rounds to 0 points for every server/,
       'ketama: every server rounds to 0 points');
croaks([ flavor => 'cmf', servers => \@two, namespace => [ 'x' ] ], qr/^options\.namespace: must be a string \(got ARRAY reference\)/,
       'namespace a reference');
croaks([ flavor => 'cmf', servers => \@two, namespace => "\xff" ], qr/^options\.namespace: must be valid UTF-8/,
       'namespace bytes that are not UTF-8');
croaks([ flavor => 'cache-memcached', servers => \@two, hash_namespace => 1 ],
       qr/^options\.hash_namespace: unknown option for flavor cache-memcached/, 'an option of another flavor');

# ---- methods ----
my $ring = SameRing::Selector->new(flavor => 'cmf', servers => \@two);
eval { SameRing::Selector::pick(undef, 'k') };
like($@, qr/^SameRing::Selector: not a SameRing::Selector object/, 'pick without an object');
eval { SameRing::Selector::pick_multi({}, 'k') };
like($@, qr/^SameRing::Selector: not a SameRing::Selector object/, 'pick_multi with a plain hash');
eval { $ring->pick() };
like($@, qr/^Usage: SameRing::Selector::pick\(self, key\)/, 'pick without a key');
eval { $ring->pick_index('a', 'b') };
like($@, qr/^Usage: SameRing::Selector::pick_index\(self, key\)/, 'pick_index with two keys');

done_testing;
