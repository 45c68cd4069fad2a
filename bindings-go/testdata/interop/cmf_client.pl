#!/usr/bin/perl
# cmf_client.pl SPEC — the real Cache::Memcached::Fast (Debian 0.28) on the cluster of a
# cmf-flavor spec (its servers, weights, ketama_points, namespace, hash_namespace), for the Go
# interop test (bindings-go/interop_test.go). Commands on stdin, keys and values hex-encoded (so
# any bytes pass):
#   set KEY VALUE     stores VALUE (a plain string: CMF stores it with flags 0)
#   get KEY           prints "VALUE KEY VALUE" or "MISS KEY"
# Prints "OK" after each set. Exit 1 on a failed set (with the reason on stderr).
use strict;
use warnings;
use Cache::Memcached::Fast;
use JSON::PP;

my ($spec_file) = @ARGV;
die "usage: $0 SPEC\n" unless $spec_file;
my $spec = decode_json(do { local (@ARGV, $/) = $spec_file; <> });
die "$spec_file: needs a cmf-flavor spec\n" unless $spec->{flavor} eq 'cmf';
my %opt = %{ $spec->{options} || {} };
my $mc = Cache::Memcached::Fast->new({
  servers => [ map { { address => "$_->{host}:" . ($_->{port} // 11211), weight => $_->{weight} // 1 } }
               @{ $spec->{servers} } ],
  connect_timeout => 2, io_timeout => 2,
  ketama_points => $opt{ketama_points} // 0,
  (defined $opt{namespace} ? (namespace => $opt{namespace}) : ()),
  hash_namespace => $opt{hash_namespace} ? 1 : 0,
  utf8 => 0, compress_threshold => -1,
});
$| = 1;
while (my $line = <STDIN>) {
  chomp $line;
  my ($cmd, $k, $v) = split / /, $line;
  my $key = pack 'H*', $k;
  if ($cmd eq 'set') {
    $mc->set($key, pack('H*', $v)) or die "cmf_client: set $k failed\n";
    print "OK\n";
  } elsif ($cmd eq 'get') {
    my $got = $mc->get($key);
    print defined $got ? "VALUE $k " . unpack('H*', $got) . "\n" : "MISS $k\n";
  } else {
    die "cmf_client: bad command line '$line'\n";
  }
}
