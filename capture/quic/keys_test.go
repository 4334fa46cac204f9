package quic

import (
	"crypto/aes"
	"encoding/hex"
	"testing"
)

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("bad hex in test: %v", err)
	}
	return b
}

// TestInitialKeyDerivation checks every intermediate value RFC 9001 A.1 and
// RFC 9369 A.1 print.
func TestInitialKeyDerivation(t *testing.T) {
	tests := []struct {
		name                              string
		params                            *versionParams
		initial                           string // "" where the RFC prints none we rely on
		clientSecret, clientKey, clientIV string
		clientHP                          string
		serverSecret, serverKey, serverIV string
		serverHP                          string
	}{
		{
			name:         "v1 RFC 9001 A.1",
			params:       &paramsV1,
			initial:      "7db5df06e7a69e432496adedb00851923595221596ae2ae9fb8115c1e9ed0a44",
			clientSecret: "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea",
			clientKey:    "1f369613dd76d5467730efcbe3b1a22d",
			clientIV:     "fa044b2f42a3fd3b46fb255c",
			clientHP:     "9f50449e04a0e810283a1e9933adedd2",
			serverSecret: "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b",
			serverKey:    "cf3a5331653c364c88f0f379b6067e37",
			serverIV:     "0ac1493ca1905853b0bba03e",
			serverHP:     "c206b8d9b9f0f37644430b490eeaa314",
		},
		{
			name:         "v2 RFC 9369 A.1",
			params:       &paramsV2,
			clientSecret: "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b",
			clientKey:    "8b1a0bc121284290a29e0971b5cd045d",
			clientIV:     "91f73e2351d8fa91660e909f",
			clientHP:     "45b95e15235d6f45a6b19cbcb0294ba9",
			serverSecret: "0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1",
			serverKey:    "82db637861d55e1d011f19ea71d5d2a7",
			serverIV:     "dd13c276499c0249d3310652",
			serverHP:     "edf6d05c83121201b436e16877593c3a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			initial, err := initialSecret(tt.params, unhex(t, rfcDCID))
			if err != nil {
				t.Fatal(err)
			}
			client, err1 := expandLabel(initial, labelClientIn, secretLen)
			server, err2 := expandLabel(initial, labelServerIn, secretLen)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			check := func(what string, got []byte, want string) {
				t.Helper()
				if hex.EncodeToString(got) != want {
					t.Errorf("%s = %x, want %s", what, got, want)
				}
			}
			if tt.initial != "" {
				check("initial_secret", initial, tt.initial)
			}
			check("client_initial_secret", client, tt.clientSecret)
			check("server_initial_secret", server, tt.serverSecret)
			for _, side := range []struct {
				name, key, iv, hp string
				secret            []byte
			}{{"client", tt.clientKey, tt.clientIV, tt.clientHP, client}, {"server", tt.serverKey, tt.serverIV, tt.serverHP, server}} {
				k, err := deriveKeys(tt.params, side.secret)
				if err != nil {
					t.Fatal(err)
				}
				check(side.name+" key", k.key[:], side.key)
				check(side.name+" iv", k.iv[:], side.iv)
				check(side.name+" hp", k.hp[:], side.hp)
			}
		})
	}
}

// TestHeaderProtectionMask checks the sample and mask of the client Initial
// examples (RFC 9001 A.2, RFC 9369 A.2).
func TestHeaderProtectionMask(t *testing.T) {
	for _, tt := range []struct {
		version      uint32
		sample, mask string
	}{
		{Version1, "d1b1c98dd7689fb8ec11d242b123dc9b", "437b9aec36"},
		{Version2, "ffe67b6abcdb4298b485dd04de806071", "94a0c95e80"},
	} {
		k, err := clientInitialKeys(tt.version, unhex(t, rfcDCID))
		if err != nil {
			t.Fatal(err)
		}
		block, err := aes.NewCipher(k.hp[:])
		if err != nil {
			t.Fatal(err)
		}
		var mask [16]byte
		block.Encrypt(mask[:], unhex(t, tt.sample))
		if got := hex.EncodeToString(mask[:5]); got != tt.mask {
			t.Errorf("version %#x: mask %s, want %s", tt.version, got, tt.mask)
		}
	}
}

func TestUnknownVersionHasNoKeys(t *testing.T) {
	if _, err := clientInitialKeys(0xff00001d, unhex(t, rfcDCID)); err == nil {
		t.Error("draft-29 keys derived; only v1 and v2 are supported")
	}
}

// TestDecodePacketNumber uses the example of RFC 9000 Appendix A.3 and the
// edges of the window.
func TestDecodePacketNumber(t *testing.T) {
	for _, tt := range []struct {
		largest   int64
		truncated uint64
		pnLen     int
		want      uint64
	}{
		{0xa82f30ea, 0x9b32, 2, 0xa82f9b32},
		{-1, 0, 1, 0},
		{-1, 2, 4, 2},
		{-1, 0xff, 1, 0xff},
		{0xfe, 0x01, 1, 0x101},
		{0x100, 0xff, 1, 0xff},
		{1<<62 - 2, 0xff, 1, 1<<62 - 1},
	} {
		if got := decodePacketNumber(tt.largest, tt.truncated, tt.pnLen); got != tt.want {
			t.Errorf("decode(%#x, %#x, %d) = %#x, want %#x", tt.largest, tt.truncated, tt.pnLen, got, tt.want)
		}
	}
}

func TestReadVarint(t *testing.T) {
	// RFC 9000 Appendix A.1 examples.
	for _, tt := range []struct {
		in   string
		want uint64
		n    int
	}{
		{"c2197c5eff14e88c", 151288809941952652, 8},
		{"9d7f3e7d", 494878333, 4},
		{"7bbd", 15293, 2},
		{"25", 37, 1},
		{"4025", 37, 2},
		{"", 0, -1},
		{"7b", 0, -1},
		{"c2197c5eff14e8", 0, -1},
	} {
		v, n := readVarint(unhex(t, tt.in))
		if v != tt.want || n != tt.n {
			t.Errorf("readVarint(%s) = %d, %d; want %d, %d", tt.in, v, n, tt.want, tt.n)
		}
	}
}
