# Cache::Memcached::SameRing and the real Cache::Memcached::Fast 0.28 on the same memcached
# servers (started here on loopback), with the same constructor arguments: each reads what the
# other wrote (get and get_multi) for plain strings, character strings (utf8 => 1), serialized
# references (Storable) and compressed values (over compress_threshold), in CMF's ketama mode
# and its default Cache::Memcached-compatible mode, with and without a (hashed) namespace. Every
# key is on exactly one node, the node SameRing::Selector picks, and both modules store the same
# flags and bytes for the same value.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use SameRingTest::Memcached;
BEGIN { SameRingTest::Memcached->need('Cache::Memcached::Fast', 'Cache::Memcached::SameRing') }
use SameRing::Selector;
use Storable ();

my $KEYS = $ENV{SAMERING_INTEROP_KEYS} || 120;
my $mc   = SameRingTest::Memcached->start(4);
my @addr = $mc->addresses;
note "Cache::Memcached::Fast $Cache::Memcached::Fast::VERSION; memcached on @addr";

my @configs = (
    { name => 'ketama 150, fractional weights, every server form',
      servers => [ { address => $addr[0], weight => 1 }, { address => $addr[1], weight => 2.5 }, $addr[2],
                   [ $addr[3], 0.7 ] ],
      ketama_points => 150 },
    { name => 'ketama 150, namespace hashed',
      servers => [ @addr ], ketama_points => 150, namespace => 'app:', hash_namespace => 1 },
    { name => 'compatible mode (CMF default), weights',
      servers => [ { address => $addr[0], weight => 2 }, @addr[ 1 .. 3 ] ] },
    { name => 'compatible mode, namespace not hashed',
      servers => [ @addr ], namespace => 'ns/', ketama_points => 0 },
);

# Values of each kind for key $i: CMF's four encodings.
my %kinds = (
    plain      => sub { "value:$_[0]:" . ('v' x ($_[0] % 50)) },
    utf8       => sub { "\x{263a}\x{e9}\x{65e5}:$_[0]" },                          # flag 0x4
    ref        => sub { { key => $_[0], list => [ 1 .. $_[0] % 7 ], text => "t$_[0]" } },   # flag 0x1
    compressed => sub { join('', map { "line $_ of $_[0]\n" } 1 .. 300) },           # flag 0x2
    big_ref    => sub { [ map { "item $_ of $_[0]" } 1 .. 200 ] },                   # 0x1 | 0x2
);
my %want_flags = (plain => 0, utf8 => 4, ref => 1, compressed => 2, big_ref => 3);

my $config = 0;
for my $c (@configs) {
    ++$config;
    subtest $c->{name} => sub {
        my %args = (servers => $c->{servers}, compress_threshold => 1000, utf8 => 1, connect_timeout => 2,
                    io_timeout => 2, map { exists $c->{$_} ? ($_ => $c->{$_}) : () }
                    qw(ketama_points namespace hash_namespace));
        my $ours = Cache::Memcached::SameRing->new({ %args });
        my $cmf  = Cache::Memcached::Fast->new({ %args });
        my $ring = SameRing::Selector->new(flavor => 'cmf', servers => $c->{servers},
                                           map { exists $c->{$_} ? ($_ => $c->{$_}) : () }
                                           qw(ketama_points namespace hash_namespace));
        my $prefix = $c->{namespace} // '';

        for my $kind (sort keys %kinds) {
            my $make = $kinds{$kind};
            my (@ours_keys, @cmf_keys, %value);
            for my $i (1 .. $KEYS) {
                # ASCII keys, and every third one a character string (sent as its UTF-8 bytes)
                my $k = $i % 3 ? "c$config:$kind:$i" : "c$config:$kind:\x{444}\x{43b}:$i";
                push @ours_keys, "o:$k";
                push @cmf_keys, "f:$k";
                $value{"o:$k"} = $value{"f:$k"} = $make->($i);
            }
            my ($stored_ours, $stored_cmf) = (0, 0);
            $stored_ours += !!$ours->set($_, $value{$_}) for @ours_keys;
            $stored_cmf  += !!$cmf->set($_, $value{$_}) for @cmf_keys;
            is($stored_ours + $stored_cmf, 2 * $KEYS, "$kind: every set succeeds");

            my ($cmf_reads, $ours_reads) = (0, 0);
            for my $k (@ours_keys) { $cmf_reads  += is_same($cmf->get($k), $value{$k}) }
            for my $k (@cmf_keys)  { $ours_reads += is_same($ours->get($k), $value{$k}) }
            is($cmf_reads, $KEYS, "$kind: CMF gets every value SameRing wrote");
            is($ours_reads, $KEYS, "$kind: SameRing gets every value CMF wrote");

            my $by_cmf  = $cmf->get_multi(@ours_keys);
            my $by_ours = $ours->get_multi(@cmf_keys);
            is(scalar(grep { is_same($by_cmf->{$_}, $value{$_}) } @ours_keys), $KEYS,
               "$kind: CMF get_multi finds them all");
            is(scalar(grep { is_same($by_ours->{$_}, $value{$_}) } @cmf_keys), $KEYS,
               "$kind: SameRing get_multi finds them all");

            # On the wire: one node holds each key, the ring's node, with CMF's flags; for the
            # same key and value both modules store the same bytes.
            my ($placed, $same_bytes, @bad) = (0, 0);
            for my $i (0 .. 19) {
                my ($k, $f) = ($ours_keys[$i], $cmf_keys[$i]);
                my $wire = $prefix . bytes_of($k);
                my @holders = $mc->holders($wire);
                my $node = $ring->pick_index($k);
                if (@holders == 1 && $holders[0] == $node) { ++$placed } else { push @bad, "$k on (@holders), ring $node" }
                $cmf->set($f . ':same', $value{$k});
                $ours->set($k . ':same', $value{$k});
                my $a = $mc->raw_get($ring->pick_index($k . ':same'), $prefix . bytes_of($k . ':same'));
                my $b = $mc->raw_get($ring->pick_index($f . ':same'), $prefix . bytes_of($f . ':same'));
                ++$same_bytes if $a && $b && $a->{flags} == $want_flags{$kind} && $b->{flags} == $a->{flags}
                                 && $a->{data} eq $b->{data};
            }
            is($placed, 20, "$kind: each key on one node, the ring's") or diag join "\n", @bad[0 .. 4];
            is($same_bytes, 20, "$kind: the same flags ($want_flags{$kind}) and bytes from both modules");
        }
        is_deeply($ours->server_versions, $cmf->server_versions, 'the same server_versions');
    };
}

sub bytes_of { my $s = shift; utf8::encode($s) if utf8::is_utf8($s); $s }

# 1 when $got is $want: a reference with the same contents, or the same string with the same
# UTF-8 flag.
sub is_same {
    my ($got, $want) = @_;
    return 0 unless defined $got;
    if (ref $want) {
        local $Storable::canonical = 1;
        return ref $got && Storable::nfreeze($got) eq Storable::nfreeze($want) ? 1 : 0;
    }
    return !ref $got && $got eq $want && !!utf8::is_utf8($got) == !!utf8::is_utf8($want) ? 1 : 0;
}

$mc->stop;
done_testing;
