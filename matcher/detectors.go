package matcher

import (
	"fmt"
	"unicode/utf8"
)

// Detectors find personal data that no word list can: numbers whose shape
// and check digit say what they are. They scan the original text for runs of
// digits (ASCII or full-width) that may be split by single spaces or hyphens,
// and test the run and each of its unsplit parts. The reported match is
// masked, so a hit never copies the personal data it warns about.

// Detector names a pack may list under `detectors`.
const (
	DetectorIDCard   = "cn_id_card" // 18-character resident ID, ISO 7064 MOD 11-2 check
	DetectorMobile   = "cn_mobile"  // mainland mobile number, optional +86
	DetectorBankCard = "bank_card"  // 16–19 digit card number with a Luhn check
	maxDigitRun      = 32
)

var detectorNames = []string{DetectorIDCard, DetectorMobile, DetectorBankCard}

type detectorFunc func(digits []byte) bool

func detectorByName(name string) (detectorFunc, error) {
	switch name {
	case DetectorIDCard:
		return isIDCard, nil
	case DetectorMobile:
		return isMobile, nil
	case DetectorBankCard:
		return isBankCard, nil
	}
	return nil, fmt.Errorf("unknown detector %q (want one of %v)", name, detectorNames)
}

// digitRun is a candidate number: its digits and its byte span.
type digitRun struct {
	digits     [maxDigitRun]byte
	n          int
	start, end int
}

// forEachNumber calls fn for every digit run in text and, when the run has
// separators, for each of its parts between them.
func forEachNumber(text string, fn func(r *digitRun)) {
	forEachNumberIn(text, new([2]digitRun), fn)
}

// forEachNumberIn is forEachNumber working in runs (pooled by the caller:
// handed to fn, they would escape and cost two allocations per text).
func forEachNumberIn(text string, runs *[2]digitRun, fn func(r *digitRun)) {
	whole, part := &runs[0], &runs[1]
	*whole, *part = digitRun{}, digitRun{}
	inRun, pendingSep, split := false, false, false
	flush := func() {
		if inRun {
			if split && part.n > 0 {
				fn(part)
			}
			fn(whole)
		}
		inRun, pendingSep, split = false, false, false
		whole.n, part.n = 0, 0
	}
	push := func(r *digitRun, d byte, end int) {
		if r.n < maxDigitRun {
			r.digits[r.n] = d
		}
		r.n++
		r.end = end
	}
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		d, isDigit := digitValue(r)
		switch {
		case isDigit:
			if !inRun {
				inRun = true
				whole.start, part.start = i, i
			} else if pendingSep {
				fn(part) // a part before a separator is a candidate on its own
				split = true
				part.n, part.start = 0, i
			}
			pendingSep = false
			push(whole, d, i+size)
			push(part, d, i+size)
		case inRun && !pendingSep && (r == ' ' || r == '-' || r == 0x3000 || r == 0xFF0D):
			pendingSep = true
		case (r == 'x' || r == 'X') && inRun && !pendingSep && (whole.n == 17 || part.n == 17):
			// The ID check digit X ends a run; it may follow 17 digits in
			// groups ("110105 19491231 002X") or a part of 17 digits.
			push(whole, 'X', i+size)
			push(part, 'X', i+size)
			flush()
		default:
			flush()
		}
		i += size
	}
	flush()
}

func digitValue(r rune) (byte, bool) {
	switch {
	case r >= '0' && r <= '9':
		return byte(r), true
	case r >= 0xFF10 && r <= 0xFF19: // full-width digits
		return byte('0' + r - 0xFF10), true
	}
	return 0, false
}

func isIDCard(d []byte) bool {
	if len(d) != 18 || d[0] < '1' || d[0] > '8' {
		return false
	}
	year := atoi(d[6:10])
	month := atoi(d[10:12])
	day := atoi(d[12:14])
	if year < 1900 || year > 2099 || month < 1 || month > 12 || day < 1 || day > 31 {
		return false
	}
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
		sum += int(d[i]-'0') * w
	}
	return d[17] == "10X98765432"[sum%11]
}

func isMobile(d []byte) bool {
	if len(d) == 13 && d[0] == '8' && d[1] == '6' {
		d = d[2:]
	}
	return len(d) == 11 && d[0] == '1' && d[1] >= '3' && d[1] <= '9' && allDigits(d)
}

func isBankCard(d []byte) bool {
	if len(d) < 16 || len(d) > 19 || d[0] < '3' || d[0] > '6' || !allDigits(d) {
		return false
	}
	sum := 0
	for i := range d {
		v := int(d[len(d)-1-i] - '0')
		if i%2 == 1 {
			if v *= 2; v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

func allDigits(d []byte) bool {
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func atoi(d []byte) int {
	n := 0
	for _, c := range d {
		n = n*10 + int(c-'0')
	}
	return n
}

// maskDigits keeps the first 3 and last 4 digits of a number.
func maskDigits(d []byte) string {
	out := make([]byte, len(d))
	for i, c := range d {
		if i < 3 || i >= len(d)-4 {
			out[i] = c
		} else {
			out[i] = '*'
		}
	}
	return string(out)
}
