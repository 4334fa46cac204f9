package matcher

import (
	"fmt"
	"testing"

	"github.com/campusguard/campusguard/internal/event"
)

func TestDetectorChecks(t *testing.T) {
	tests := []struct {
		name   string
		fn     detectorFunc
		digits string
		want   bool
	}{
		{"id valid X", isIDCard, "11010519491231002X", true},
		{"id valid digit", isIDCard, "440524198001010013", true},
		{"id bad checksum", isIDCard, "110105194912310021", false},
		{"id bad month", isIDCard, "110105194913310028", false},
		{"id bad region", isIDCard, "910105194912310021", false},
		{"id short", isIDCard, "1101051949123100", false},
		{"mobile", isMobile, "13812345678", true},
		{"mobile +86", isMobile, "8613812345678", true},
		{"mobile bad prefix", isMobile, "12812345678", false},
		{"mobile too long", isMobile, "138123456789", false},
		{"card luhn ok", isBankCard, "6222021234567890128", true},
		{"card visa test", isBankCard, "4111111111111111", true},
		{"card luhn bad", isBankCard, "6222021234567890127", false},
		{"card too short", isBankCard, "411111111111111", false},
	}
	for _, tt := range tests {
		if got := tt.fn([]byte(tt.digits)); got != tt.want {
			t.Errorf("%s: %s → %v, want %v", tt.name, tt.digits, got, tt.want)
		}
	}
}

func TestDetectorsInText(t *testing.T) {
	set := newTestSet(t, map[string]string{
		"pii.yaml": "name: pii\ncategory: pii\napplies_to: [post]\ndetectors: [cn_id_card, cn_mobile, bank_card]\n",
	})
	tests := []struct{ text, want string }{
		{"身份证11010519491231002X。", "[detector:cn_id_card 110***********002X 9-27]"},
		{"电话 138 1234 5678 谢谢", "[detector:cn_mobile 138****5678 7-20]"},
		{"call +86-138-1234-5678", "[detector:cn_mobile 861******5678 6-22]"},
		{"全角１３８１２３４５６７８", "[detector:cn_mobile 138****5678 6-39]"},
		{"卡号 6222 0212 3456 7890 128", "[detector:bank_card 622************0128 7-30]"},
		{"order 2022 13812345678", "[detector:cn_mobile 138****5678 11-22]"},
		{"no pii 12345678901234567890123456789012345", "[]"},
		{"invoice 110105194912310021", "[]"},
	}
	for _, tt := range tests {
		hits := set.MatchText(event.KindPost, event.FieldText, tt.text, nil)
		got := []string{}
		for _, h := range hits {
			got = append(got, fmt.Sprintf("%s %s %d-%d", h.Rule, h.Match, h.Start, h.End))
		}
		if fmt.Sprint(got) != tt.want {
			t.Errorf("%q: got %v, want %s", tt.text, got, tt.want)
		}
	}
	if hits := set.MatchText(event.KindDNS, event.FieldName, "13812345678.test", nil); len(hits) != 0 {
		t.Errorf("detectors ran on a dns name: %v", hits)
	}
}

func TestUnknownDetectorIsAProblem(t *testing.T) {
	_, rep := newTestMatcher(t, map[string]string{
		"p.yaml": "name: p\ncategory: pii\ndetectors:\n  - ssn\n  - cn_mobile\n",
	})
	if len(rep.Problems) != 1 || rep.Problems[0].Line != 4 || rep.Problems[0].Reason != `unknown detector "ssn" (want one of [cn_id_card cn_mobile bank_card])` {
		t.Errorf("problems: %v", rep.Problems)
	}
}
