#!/usr/bin/perl
# demo/perl_broker.pl SOCKET RING SPEC KEYS — a Perl parent opens two selectors on a running
# samering-broker before forking (one asks the broker over its socket, one maps the ring image the
# broker publishes in shared memory), forks 8 workers (as a prefork server does): 4 pick every key
# through the broker, 4 through shared memory. Each worker also reports the ring generation that
# answered. Prints, per key, "NODE" and finally a line "generation G"; dies if a worker disagrees
# with the others or with an in-process selector built from SPEC (the file the broker serves).
use strict;
use warnings;
use SameRing::Selector;

my ($socket, $ring_name, $spec, $keys_file) = @ARGV;
die "usage: $0 SOCKET RING SPEC KEYS\n" unless $keys_file;
open my $kf, '<:raw', $keys_file or die "$keys_file: $!\n";
chomp(my @keys = <$kf>);

my $local = SameRing::Selector->new(spec => $spec);
my %via = (
  broker => SameRing::Selector->new(broker => $socket, ring => $ring_name, timeout => 2000),
  shm    => SameRing::Selector->new(broker => $socket, ring => $ring_name, shm => 1),
);
my @pipes;
for my $worker (1 .. 8) {
  my $how = $worker <= 4 ? 'broker' : 'shm';
  pipe(my $r, my $w) or die "pipe: $!\n";
  my $pid = fork() // die "fork: $!\n";
  if ($pid == 0) {
    close $r;
    my $sel = $via{$how};
    my @nodes = map { $sel->pick($_) // 'refused' } @keys;   # one request per key
    print {$w} join("\n", $sel->generation, @nodes), "\n";
    close $w;
    exit 0;
  }
  close $w;
  push @pipes, [$pid, $how, $r];
}
my @expected = $local->pick_multi(@keys);
my %generation;
for my $p (@pipes) {
  my ($pid, $how, $r) = @$p;
  local $/;
  my @out = split /\n/, scalar <$r>;
  waitpid($pid, 0);
  die "worker $pid ($how) failed\n" if $?;
  my $gen = shift @out;
  $generation{$gen} = 1;
  for my $i (0 .. $#keys) {
    die "worker $pid ($how, generation $gen) picks $out[$i] for $keys[$i], in-process $expected[$i]\n"
      if $out[$i] ne $expected[$i];
  }
}
die "workers saw different generations: @{[sort keys %generation]}\n" if keys %generation != 1;
print "$_\n" for @expected;
print "generation ", (keys %generation)[0], "\n";
