//go:build !race

package samering

const raceEnabled = false
