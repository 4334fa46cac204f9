package matcher

import (
	"testing"
)

func TestFoldString(t *testing.T) {
	tests := []struct {
		in, want string
		t2s      bool
	}{
		{"刷 单", "刷单", false},
		{"刷*单", "刷单", false},
		{"刷\u200b单", "刷单", false},       // zero-width space
		{"刷\u200d单\ufeff", "刷单", false}, // zero-width joiner, BOM
		{"刷🔥单", "刷单", false},            // emoji
		{"刷\u3000单", "刷单", false},       // ideographic space
		{"２０２２刷 单", "2022刷单", false},    // full-width digits
		{"ＣａＳｉＮｏ", "casino", false},     // full-width letters
		{"CASINO", "casino", false},     // case
		{"café", "cafe", false},         // precomposed accent
		{"cafe\u0301", "cafe", false},   // combining accent
		{"ﬁnance", "finance", false},    // ligature
		{"𝐛𝐞𝐭", "bet", false},           // mathematical bold
		{"①②", "12", false},             // circled digits
		{"ΣΊΣΥΦΟΣ", "σισυφοσ", false},   // final sigma folds to sigma
		{"學校貸款", "學校貸款", false},         // traditional kept without t2s
		{"學校貸款", "学校贷款", true},          // traditional → simplified
		{"刷單", "刷单", true},              //
		{"a.b-c_d", "abcd", false},      // punctuation dropped
		{"\xff\xfe刷单", "刷单", false},     // invalid UTF-8 is a separator
	}
	for _, tt := range tests {
		got, err := FoldString(tt.in, tt.t2s)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("FoldString(%q, t2s=%v) = %q, want %q", tt.in, tt.t2s, got, tt.want)
		}
	}
}

func TestFoldTableAgreesWithReference(t *testing.T) {
	for _, t2s := range []bool{false, true} {
		table, err := getFoldTable(t2s)
		if err != nil {
			t.Fatal(err)
		}
		var buf []rune
		for _, r := range []rune{'A', 'z', '9', ' ', '刷', '學', 0xFF21, 0x200B, 0x0301, 0xFB01, 0x1D41B, 0x1F525, 0x2460, 0xAC00, 0x3000, 0x10FFFF, 0xE0041} {
			kind, out := foldRune(r, table.t2s, buf[:0])
			e := table.entry(r)
			if int(e>>foldKindShift) != kind && !(kind == foldKeep && e>>foldKindShift == foldExpand) {
				t.Errorf("t2s=%v rune %U: table kind %d, reference %d", t2s, r, e>>foldKindShift, kind)
			}
			folded, _ := FoldString(string(r), t2s)
			if string(out) != folded {
				t.Errorf("t2s=%v rune %U: table folds to %q, reference %q", t2s, r, folded, string(out))
			}
		}
	}
}
