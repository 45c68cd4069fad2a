# Parity: every vector file made by the real peers (fixtures/vectors, or SAMERING_VECTORS_DIR),
# through the Perl binding. A directory without vector files is a failure, not a skip.
use strict;
use warnings;
use File::Spec;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use SameRingTest qw(vectors_dir vector_files read_vector cmf_servers_of);
use SameRing::Selector;

my @files = vector_files();
ok(scalar @files, 'the vectors directory ' . vectors_dir() . ' has vector files')
    or diag 'no vector files in ' . vectors_dir() . ' (set SAMERING_VECTORS_DIR)';

for my $path (@files) {
    my $v = read_vector($path);
    my ($doc, $name) = ($v->{doc}, (File::Spec->splitpath($path))[2]);
    my @cases = @{ $doc->{cases} || [] };
    my $ring = eval { SameRing::Selector->new(json => $v->{spec_json}) };
    if (!ok($ring, "$name: builds from its spec")) { diag $@; next }
    ok(@cases > 0, "$name: has cases");

    my @keys = map { pack 'H*', $_->[0] } @cases;
    my @want = map { $_->[1] } @cases;
    my @servers = $ring->servers;

    my @bad = grep { !defined $ring->pick_index($keys[$_]) || $ring->pick_index($keys[$_]) != $want[$_] } 0 .. $#keys;
    is(scalar @bad, 0, "$name: pick_index equals $doc->{peer} on all " . scalar(@keys) . ' keys')
        or diag join "\n", map { "key $cases[$_][0]: want $want[$_], got " . ($ring->pick_index($keys[$_]) // 'undef') }
                           @bad[0 .. ($#bad < 4 ? $#bad : 4)];

    my @multi = $ring->pick_multi(@keys);
    is_deeply(\@multi, [ map { $servers[$_] } @want ], "$name: pick_multi over all keys");

    # The same ring from Cache::Memcached::Fast-style arguments (the spec JSON built in Perl).
    my $spec = $doc->{spec};
    my $from_args = eval {
        SameRing::Selector->new(flavor => $spec->{flavor}, servers => cmf_servers_of($spec),
                                %{ $spec->{options} || {} });
    };
    if (!ok($from_args, "$name: builds from flavor/servers/options arguments")) { diag $@; next }
    my @idx = map { $from_args->pick_index($_) } @keys;
    is_deeply(\@idx, \@want, "$name: the same picks when built from arguments");
}

done_testing;
