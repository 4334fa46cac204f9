// Package rules embeds the example rule packs that ship with campusguard.
// They cover only security and moderation topics: phishing and malware
// domains, fraud and scams, gambling and spam ads, personal-data leaks and
// harassment. They use reserved names (*.example, *.test, *.invalid) so they
// never block a real site; operators load their own packs for production.
package rules

import "embed"

// FS holds the packs (*.yaml) and the lists they name (lists/).
//
//go:embed *.yaml lists
var FS embed.FS
