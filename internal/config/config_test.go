package config

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// equal compares Configs the way a consumer would: nil and empty lists
// are the same, and so are two NaNs in opaque policy data.
var equal = []cmp.Option{cmpopts.EquateEmpty(), cmpopts.EquateNaNs()}

func TestDefault(t *testing.T) {
	got := Default()
	want := Config{
		Sensor: Sensor{Name: got.Sensor.Name}, // the host name; checked below
		Rules: Rules{
			Packs:                   []string{"/etc/campusguard/rules/*.yaml"},
			Reload:                  Duration(30 * time.Second),
			TraditionalToSimplified: true,
			MaxHitsPerText:          256,
		},
		Capture: Capture{Workers: 2, FlowMemoryMB: 64, FlowIdle: Duration(time.Minute)},
		Hitlog: Hitlog{URL: "chdb:///var/lib/campusguard/hits", BatchRows: 50000, BatchInterval: Duration(5 * time.Second),
			QueueRows: 200000, SpoolDir: "/var/lib/campusguard/spool", SpoolMaxMB: 1024, SpoolFull: "drop_oldest",
			RollupRetention: Duration(400 * 24 * time.Hour)},
		State:      State{Path: "/var/lib/campusguard/state.db"},
		HTTP:       HTTP{Listen: "127.0.0.1:8080"},
		Privacy:    Privacy{Pseudonymize: true, KeyFile: "/var/lib/campusguard/pseudonym.key", Retention: Duration(90 * 24 * time.Hour)},
		Moderation: Moderation{ClaimTTL: Duration(10 * time.Minute), UndoWindow: Duration(2 * time.Minute)},
		Alerts:     Alerts{DryRun: true},
		Firewall: Firewall{NFTables: NFTables{Table: "campusguard"}, Feeds: Feeds{Enabled: true, RequireToken: true, Wildcards: true,
			MaxIPs: 50000, MaxDomains: 50000, MaxURLs: 50000}},
	}
	if diff := cmp.Diff(want, got, equal...); diff != "" {
		t.Errorf("Default() mismatch (-want +got):\n%s", diff)
	}
	if msg := checkSensorName(got.Sensor.Name); msg != "" {
		t.Errorf("default sensor name %q: %s", got.Sensor.Name, msg)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

// Every field needs a yaml tag: the decoder, the environment names and
// Dump all derive keys from them.
func TestEveryFieldHasYAMLKey(t *testing.T) {
	var walk func(t reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			key := yamlKey(f)
			if key == "" || key == "-" {
				t.Errorf("%s.%s has no yaml key", path, f.Name)
			}
			if isSection(f.Type) {
				walk(f.Type, joinPath(path, key))
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name        string
		flag, env   string
		defaultFile bool
		wantPath    string
		wantDefault bool
	}{
		{name: "flag wins", flag: "a.yaml", env: "b.yaml", defaultFile: true, wantPath: "a.yaml"},
		{name: "env next", env: "b.yaml", defaultFile: true, wantPath: "b.yaml"},
		{name: "default path if it exists", defaultFile: true, wantPath: DefaultPath},
		{name: "built-in defaults", wantDefault: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == PathEnv {
					return tt.env
				}
				return ""
			}
			exists := func(p string) bool { return p == DefaultPath && tt.defaultFile }
			path, useDefaults := resolve(tt.flag, getenv, exists)
			if path != tt.wantPath || useDefaults != tt.wantDefault {
				t.Errorf("resolve() = %q, %v; want %q, %v", path, useDefaults, tt.wantPath, tt.wantDefault)
			}
		})
	}
}

func TestResolveReal(t *testing.T) {
	t.Setenv(PathEnv, "/tmp/from-env.yaml")
	if path, useDefaults := Resolve(""); path != "/tmp/from-env.yaml" || useDefaults {
		t.Errorf("Resolve(\"\") = %q, %v; want the CAMPUSGUARD_CONFIG path", path, useDefaults)
	}
	if path, _ := Resolve("x.yaml"); path != "x.yaml" {
		t.Errorf("Resolve(\"x.yaml\") = %q; the flag should win", path)
	}
}
