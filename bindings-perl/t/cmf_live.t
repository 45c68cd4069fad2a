# The real Cache::Memcached::Fast 0.28 and SameRing::Selector, on the same server lists in one
# process: CMF's choice is observed (loopback listeners answering "get" with END, reporting which
# listener got which key), ours is pick_index. Ketama (150 points, fractional weights, a port
# written with a leading zero) and the compatible mode (ketama_points 0), with and without a
# namespace and hash_namespace, ASCII keys and UTF-8 keys as byte strings and as strings with the
# UTF-8 flag (CMF's wire bytes are their UTF-8 encoding).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use SameRingTest qw(random_keys);
use SameRing::Selector;

BEGIN {
    unless (eval { require Cache::Memcached::Fast; 1 }) {
        # Under ctest (SAMERING_PERL_REQUIRE) the peer is required: fail, never skip.
        if ($ENV{SAMERING_PERL_REQUIRE}) {
            plan tests => 1;
            fail('Cache::Memcached::Fast is not installed (SAMERING_PERL_REQUIRE is set)');
            exit 1;
        }
        plan skip_all => 'Cache::Memcached::Fast is not installed (a standalone `make test`; ctest fails instead)';
    }
}
require SameRingTest::Responder;

note "Cache::Memcached::Fast $Cache::Memcached::Fast::VERSION";
my $KEYS      = $ENV{SAMERING_LIVE_KEYS} || 1000;
my $UTF8_KEYS = 150;

# Distinct loopback hosts when the system routes 127/8 to lo (Linux does); else 127.0.0.1 only.
sub loopback_ips {
    my ($n, $net) = @_;
    my @ips = map { "127.0.$net.$_" } 1 .. $n;
    my $ok = eval { SameRingTest::Responder->start([ $ips[-1] ])->stop; 1 };
    return $ok ? @ips : ('127.0.0.1') x $n;
}

# Keys of non-ASCII characters mixed with ASCII; no spaces or control characters.
my @alphabet = ("\x{e9}", "\x{fc}", "\x{263a}", "\x{65e5}", "\x{672c}", "\x{1f600}", "\x{20ac}", 'a' .. 'z', 0 .. 9, ':', '/');
sub utf8_keys {
    my ($n, $seed) = @_;
    my $state = $seed;
    my $rand = sub { $state = ($state * 1103515245 + 12345) % 2147483648; $state >> 8 };
    return map { my $len = 1 + $rand->() % 12; join '', map { $alphabet[ $rand->() % @alphabet ] } 1 .. $len } 1 .. $n;
}

my @configs = (
    { name => 'ketama 150, fractional weights, a port written 0NNNNN', net => 91, ketama_points => 150,
      weights => [ 1, 2.5, 0.7, undef, 3, 1.3 ], leading_zero => 3 },
    { name => 'ketama 150, namespace hashed', net => 92, ketama_points => 150, weights => [ 1, 2, 1, 0.5 ],
      namespace => "app\x{263a}:", hash_namespace => 1 },
    { name => 'ketama 150, namespace not hashed', net => 93, ketama_points => 150, weights => [ 1, 1, 1 ],
      namespace => 'app:', hash_namespace => 0, cache_memcached_form => 1 },
    { name => 'compatible mode (ketama_points 0), fractional weights', net => 94, ketama_points => 0,
      weights => [ 0.5, 1.25, 2.7, 1, 0.2 ] },
    { name => 'compatible mode, namespace hashed', net => 95, ketama_points => 0, weights => [ 1, 2, 1 ],
      namespace => 'sess:', hash_namespace => 1 },
    { name => 'compatible mode (CMF default: no ketama_points), 10 servers', net => 96, ketama_points => undef,
      weights => [ (undef) x 10 ] },
);

my $seed = 0;
for my $c (@configs) {
    subtest $c->{name} => sub {
        my $resp = SameRingTest::Responder->start([ loopback_ips(scalar @{ $c->{weights} }, $c->{net}) ]);
        my @addresses = $resp->addresses;
        if (defined $c->{leading_zero}) {
            # CMF hashes the port text: "0NNNNN" is a different point set than "NNNNN"; getaddrinfo
            # reads it as the same number, so the listener still gets the connection.
            $addresses[ $c->{leading_zero} ] =~ s/:(\d+)\z/:0$1/;
        }
        my @servers = map {
            my $w = $c->{weights}[$_];
            !defined $w                  ? $addresses[$_]
            : $c->{cache_memcached_form} ? [ $addresses[$_], $w ]
            :                              { address => $addresses[$_], weight => $w };
        } 0 .. $#addresses;
        my %options = map { defined $c->{$_} ? ($_ => $c->{$_}) : () } qw(ketama_points namespace hash_namespace);

        my $memd = Cache::Memcached::Fast->new({ servers => \@servers, %options,
                                                 connect_timeout => 2, io_timeout => 2, max_failures => 0 });
        my $ring = SameRing::Selector->new(flavor => 'cmf', servers => \@servers, %options);
        is_deeply([ $ring->servers ], \@addresses, 'the same servers');

        my $prefix = defined $c->{namespace} ? $c->{namespace} : '';
        utf8::encode($prefix) if utf8::is_utf8($prefix);
        my @chars = utf8_keys($UTF8_KEYS, ++$seed);
        my @keys = (random_keys($KEYS, ++$seed),
                    @chars,                                                   # UTF-8 flag
                    map { my $b = $_; utf8::encode($b); $b } @chars);         # the same as bytes
        my ($agree, @bad, %hits) = (0);
        for my $key (@keys) {
            my $bytes = $key;
            utf8::encode($bytes) if utf8::is_utf8($bytes);
            $memd->get($key);
            my ($listener, $wire) = $resp->next(5);
            if (!defined $listener) {
                push @bad, sprintf('%s: no get observed', unpack 'H*', $bytes);
                last if @bad > 5;
                next;
            }
            my $mine = $ring->pick_index($key);
            if ($wire ne $prefix . $bytes) {
                push @bad, sprintf('%s: wire key %s', unpack('H*', $bytes), unpack 'H*', $wire);
            } elsif (!defined $mine || $mine != $listener) {
                push @bad, sprintf('%s: CMF %d, SameRing %s', unpack('H*', $bytes), $listener, $mine // 'undef');
            } else {
                ++$agree;
                ++$hits{$listener};
            }
        }
        is($agree, scalar @keys, "SameRing equals CMF on all " . @keys . " keys ($KEYS ASCII, $UTF8_KEYS UTF-8 "
                                 . 'with the flag, the same as bytes)')
            or diag join "\n", @bad[ 0 .. ($#bad < 9 ? $#bad : 9) ];
        # (a server of weight 0.2 may get no key at all in the compatible mode, in CMF too)
        cmp_ok(scalar keys %hits, '>=', @addresses - 1, 'keys went to ' . keys(%hits) . ' of ' . @addresses . ' servers');
        my $left = $resp->stop;
        is_deeply($left, [], 'nothing else reached the listeners');
    };
}

done_testing;
