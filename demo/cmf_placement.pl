#!/usr/bin/perl
# demo/cmf_placement.pl SPEC KEYS — the real Cache::Memcached::Fast (Debian 0.28) stores every key
# on the cluster the spec names (a cmf-flavor spec), then each server is asked on its own which
# keys it holds. Prints, per key, the host:port that really holds it.
use strict;
use warnings;
use Cache::Memcached::Fast;
use JSON::PP;

my ($spec_file, $keys_file) = @ARGV;
die "usage: $0 SPEC KEYS\n" unless $keys_file;
my $spec = decode_json(do { local (@ARGV, $/) = $spec_file; <> });
die "$spec_file: the demo's CMF side needs a cmf-flavor spec\n" unless $spec->{flavor} eq 'cmf';
my @servers = map {
  { address => "$_->{host}:" . ($_->{port} // 11211), weight => $_->{weight} // 1 }
} @{ $spec->{servers} };
my %opt = %{ $spec->{options} };

open my $kf, '<:raw', $keys_file or die "$keys_file: $!\n";
chomp(my @keys = <$kf>);

my $cluster = Cache::Memcached::Fast->new({
  servers => \@servers, connect_timeout => 1, io_timeout => 1,
  ketama_points => $opt{ketama_points} // 0,
  (defined $opt{namespace} ? (namespace => $opt{namespace}) : ()),
  hash_namespace => $opt{hash_namespace} ? 1 : 0,
});
$cluster->flush_all;
for my $k (@keys) { $cluster->set($k, "value of $k") or die "set $k failed: is memcached running?\n" }

my %holder;
for my $s (@servers) {
  my $one = Cache::Memcached::Fast->new({ servers => [$s->{address}], connect_timeout => 1, io_timeout => 1,
                                          (defined $opt{namespace} ? (namespace => $opt{namespace}) : ()) });
  for my $k (@keys) { push @{ $holder{$k} }, $s->{address} if defined $one->get($k) }
}
for my $k (@keys) {
  my $h = $holder{$k} || ['(nowhere)'];
  print join(',', @$h), "\n";
}
