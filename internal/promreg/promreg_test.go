package promreg

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func counter(name string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: name})
}

func TestRegisterAllOrNone(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(counter("taken")); err != nil {
		t.Fatal(err)
	}
	err := Register(reg, counter("a"), counter("b"), counter("taken"), counter("c"))
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Fatalf("err = %v, want AlreadyRegisteredError", err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 1 || fams[0].GetName() != "taken" {
		var names []string
		for _, f := range fams {
			names = append(names, f.GetName())
		}
		t.Fatalf("after a failed Register the registry holds %v, want only taken", names)
	}
	// Nothing was left behind, so the same collectors register again.
	a, b := counter("a"), counter("b")
	if err := Register(reg, a, b); err != nil {
		t.Fatalf("second Register: %v", err)
	}
}
