#!/usr/bin/perl
# demo/perl_workers.pl SPEC KEYS — a Perl parent loads SameRing::Selector once, forks 8 workers
# (as a prefork server does), and each worker picks every key in-process. Prints, per key, the
# node the workers chose; dies if any two workers disagree.
use strict;
use warnings;
use SameRing::Selector;

my ($spec, $keys_file) = @ARGV;
die "usage: $0 SPEC KEYS\n" unless $keys_file;
open my $kf, '<:raw', $keys_file or die "$keys_file: $!\n";
chomp(my @keys = <$kf>);

my $ring = SameRing::Selector->new(spec => $spec);
my @pipes;
for my $worker (1 .. 8) {
  pipe(my $r, my $w) or die "pipe: $!\n";
  my $pid = fork() // die "fork: $!\n";
  if ($pid == 0) {
    close $r;
    print {$w} join("\n", $ring->pick_multi(@keys)), "\n";
    close $w;
    exit 0;
  }
  close $w;
  push @pipes, [$pid, $r];
}
my @answers;
for my $p (@pipes) {
  my ($pid, $r) = @$p;
  local $/;
  my $out = <$r>;
  waitpid($pid, 0);
  die "worker $pid failed\n" if $?;
  push @answers, [split /\n/, $out];
}
for my $i (0 .. $#keys) {
  my %seen = map { $_->[$i] => 1 } @answers;
  die "workers disagree on key $keys[$i]\n" if keys %seen != 1;
  print $answers[0][$i], "\n";
}
