package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// envPrefix starts every environment override.
const envPrefix = "CAMPUSGUARD_"

// ApplyEnv overrides keys from CAMPUSGUARD_<SECTION>_<KEY> variables in
// environ (as os.Environ returns it), e.g. CAMPUSGUARD_HTTP_LISTEN or
// CAMPUSGUARD_FIREWALL_NFTABLES_ENABLED. Lists are comma-separated
// (CAMPUSGUARD_RULES_PACKS=a.yaml,b.yaml). A variable that names no key, or
// holds a bad value, is an error naming it; CAMPUSGUARD_CONFIG,
// CAMPUSGUARD_CACHE and CAMPUSGUARD_TEST_* are not config keys. ApplyEnv does not validate: call Validate, or use WithEnv.
func (c *Config) ApplyEnv(environ []string) error {
	_, errs := c.applyEnv(environ)
	return errors.Join(errs...)
}

// applyEnv also returns which key paths each variable set, so that
// validation can blame the variable rather than the file.
func (c *Config) applyEnv(environ []string) (map[string]string, []error) {
	vars := envVars()
	set := map[string]string{}
	var errs []error
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || notConfig(name) {
			continue
		}
		v, ok := vars[name]
		if !ok {
			errs = append(errs, unknownVar(name, vars))
			continue
		}
		field := reflect.ValueOf(c).Elem().FieldByIndex(v.index)
		if err := setString(field, value); err != nil {
			errs = append(errs, &problem{source: name, path: v.path, msg: err.Error()})
			continue
		}
		set[v.path] = name
	}
	return set, errs
}

// notConfig names the CAMPUSGUARD_ variables that are not config keys: the
// config file's path, the download cache of scripts/ and the chDB loader,
// and the switches of the tests and benchmarks.
func notConfig(name string) bool {
	return name == PathEnv || name == "CAMPUSGUARD_CACHE" || strings.HasPrefix(name, "CAMPUSGUARD_TEST_") || strings.HasPrefix(name, "CAMPUSGUARD_BENCH_")
}

func unknownVar(name string, vars map[string]envVar) error {
	msg := "no such config key"
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range vars {
			if !yield(n) {
				return
			}
		}
	})
	if s := suggest(name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	return &problem{source: name, msg: msg}
}

// envVar is the leaf field a variable sets.
type envVar struct {
	path  string // "firewall.nftables.enabled"
	index []int  // for reflect.Value.FieldByIndex
}

// envVars maps every variable name to its field, derived from the yaml
// tags so that a new key gets its variable without a list to update.
func envVars() map[string]envVar {
	vars := map[string]envVar{}
	var walk func(t reflect.Type, path string, index []int)
	walk = func(t reflect.Type, path string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			p := joinPath(path, yamlKey(f))
			idx := append(slices.Clone(index), i)
			if isSection(f.Type) {
				walk(f.Type, p, idx)
				continue
			}
			name := envPrefix + strings.ToUpper(strings.ReplaceAll(p, ".", "_"))
			vars[name] = envVar{path: p, index: idx}
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return vars
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// setString parses s into v according to v's type.
func setString(v reflect.Value, s string) error {
	if v.Addr().Type().Implements(textUnmarshalerType) {
		return v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		v.SetBool(b)
	case reflect.Int:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want an integer, got %q", s)
		}
		v.SetInt(n)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return errors.New("cannot be set from the environment; use the config file")
		}
		v.Set(reflect.ValueOf(splitList(s)).Convert(v.Type()))
	default:
		return errors.New("cannot be set from the environment; use the config file")
	}
	return nil
}

// splitList splits a comma-separated list; "" is the empty list.
func splitList(s string) []string {
	list := []string{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			list = append(list, item)
		}
	}
	return list
}
