#!/usr/bin/perl
# demo/cms_writer.pl SPEC KEYS — a Perl prefork writer: the parent makes one
# Cache::Memcached::SameRing (the drop-in for Cache::Memcached::Fast) from a cmf-flavor spec and
# forks 4 workers; each stores its share of the keys with the value "perl worker PID".
use strict;
use warnings;
use Cache::Memcached::SameRing;
use JSON::PP;

my ($spec_file, $keys_file) = @ARGV;
die "usage: $0 SPEC KEYS\n" unless $keys_file;
my $spec = decode_json(do { local (@ARGV, $/) = $spec_file; <> });
die "$spec_file: needs a cmf-flavor spec\n" unless $spec->{flavor} eq 'cmf';
my %opt = %{ $spec->{options} };
open my $kf, '<:raw', $keys_file or die "$keys_file: $!\n";
chomp(my @keys = <$kf>);

my $memd = Cache::Memcached::SameRing->new({
  servers => [ map { { address => "$_->{host}:" . ($_->{port} // 11211), weight => $_->{weight} // 1 } }
               @{ $spec->{servers} } ],
  ketama_points => $opt{ketama_points} // 0,
  (defined $opt{namespace} ? (namespace => $opt{namespace}) : ()),
  hash_namespace => $opt{hash_namespace} ? 1 : 0,
});
my @pids;
for my $w (0 .. 3) {
  my $pid = fork() // die "fork: $!\n";
  if ($pid == 0) {
    for my $i (grep { $_ % 4 == $w } 0 .. $#keys) {
      $memd->set($keys[$i], "perl worker $$") or exit 1;
    }
    exit 0;
  }
  push @pids, $pid;
}
my $failed = 0;
for (@pids) { waitpid($_, 0); $failed ||= $? }
die "a writer failed to store its keys\n" if $failed;
