//go:build race

package samering

// raceEnabled: under -race (about 10x slower) the exhaustive byte loops sample their bytes; the
// race run exists for the concurrent tests, the plain run keeps the exhaustive ones.
const raceEnabled = true
