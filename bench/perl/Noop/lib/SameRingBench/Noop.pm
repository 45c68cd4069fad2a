package SameRingBench::Noop;
# The floor of an XS method call with pick's signature: noop($self, $key) returns a constant
# read-only "host:port" scalar the way pick returns a server's; noop_multi($self, @keys) one per
# key, as pick_multi does. Built only for bench/perl/pick.pl.
use strict;
use warnings;
our $VERSION = '0.01';
require XSLoader;
XSLoader::load('SameRingBench::Noop', $VERSION);
sub new { my ($class) = @_; my $x = 0; return bless \$x, $class }
1;
