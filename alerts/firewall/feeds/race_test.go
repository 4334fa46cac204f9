//go:build race

package feeds

// raceEnabled scales the large tests down: under the race detector the
// pure-Go SQLite is about fifty times slower.
const raceEnabled = true
