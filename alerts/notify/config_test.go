package notify

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWebhookConfigValidate(t *testing.T) {
	good := WebhookConfig{Name: "soc", URL: "https://soar.example.edu/hooks/campusguard", Secret: "0123456789abcdef"}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range []struct {
		change func(*WebhookConfig)
		field  string // the YAML key the error must name
	}{
		{func(c *WebhookConfig) { c.Name = "" }, "name"},
		{func(c *WebhookConfig) { c.Name = "soc team" }, "name"},
		{func(c *WebhookConfig) { c.URL = "" }, "url"},
		{func(c *WebhookConfig) { c.URL = "ftp://x.example/" }, "url"},
		{func(c *WebhookConfig) { c.URL = "https:///path" }, "url"},
		{func(c *WebhookConfig) { c.URL = "http://[::1" }, "url"},
		{func(c *WebhookConfig) { c.Secret = "short" }, "secret"},
		{func(c *WebhookConfig) { c.MinAction = "ban" }, "min_action"},
		{func(c *WebhookConfig) { c.Categories = []string{"phishing", " "} }, "categories[1]"},
		{func(c *WebhookConfig) { c.Timeout = -time.Second }, "timeout"},
		{func(c *WebhookConfig) { c.MaxAge = -time.Second }, "max_age"},
		{func(c *WebhookConfig) { c.InitialBackoff = -1 }, "initial_backoff"},
		{func(c *WebhookConfig) { c.MaxBackoff = -1 }, "max_backoff"},
		{func(c *WebhookConfig) { c.MaxAttempts = -1 }, "max_attempts"},
		{func(c *WebhookConfig) { c.QueueSize = -1 }, "queue_size"},
	} {
		c := good
		tc.change(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: error %v, want one naming %s", c, err, tc.field)
		}
	}
	if _, err := NewWebhook(WebhookConfig{Name: "soc", URL: good.URL, Secret: good.Secret, CACertFile: "/nonexistent/ca.pem"}, Options{}); err == nil || !strings.Contains(err.Error(), "ca_cert_file") {
		t.Errorf("a missing CA file: %v", err)
	}
}

func TestSyslogConfigValidate(t *testing.T) {
	good := SyslogConfig{Name: "siem", Address: "siem.example.edu"}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range []struct {
		change func(*SyslogConfig)
		field  string
	}{
		{func(c *SyslogConfig) { c.Name = "" }, "name"},
		{func(c *SyslogConfig) { c.Network = "sctp" }, "network"},
		{func(c *SyslogConfig) { c.Address = "" }, "address"},
		{func(c *SyslogConfig) { c.Address = ":514" }, "address"},
		{func(c *SyslogConfig) { c.Hostname = "core 1" }, "hostname"},
		{func(c *SyslogConfig) { c.AppName = strings.Repeat("a", 49) }, "app_name"},
		{func(c *SyslogConfig) { c.Facility = "local8" }, "facility"},
		{func(c *SyslogConfig) { c.MinAction = "ban" }, "min_action"},
		{func(c *SyslogConfig) { c.MaxMessageBytes = 100 }, "max_message_bytes"},
		{func(c *SyslogConfig) { c.MaxMessageBytes = 70000 }, "max_message_bytes"},
		{func(c *SyslogConfig) { c.QueueSize = -5 }, "queue_size"},
		{func(c *SyslogConfig) { c.CACertFile = "/etc/ssl/ca.pem" }, "ca_cert_file"},
		{func(c *SyslogConfig) { c.Network, c.CertFile = "tls", "/etc/c.pem" }, "key_file"},
		{func(c *SyslogConfig) { c.DialTimeout = -1 }, "dial_timeout"},
		{func(c *SyslogConfig) { c.WriteTimeout = -1 }, "write_timeout"},
		{func(c *SyslogConfig) { c.ReconnectBackoff = -1 }, "reconnect_backoff"},
	} {
		c := good
		tc.change(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: error %v, want one naming %s", c, err, tc.field)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	w := WebhookConfig{Name: "soc"}.withDefaults()
	if !reflect.DeepEqual(w, WebhookConfig{Name: "soc", Timeout: 10 * time.Second, MaxAttempts: 6, MaxAge: 15 * time.Minute,
		InitialBackoff: time.Second, MaxBackoff: time.Minute, QueueSize: 1024}) {
		t.Errorf("webhook defaults %+v", w)
	}
	for _, tc := range []struct {
		network, address, wantAddress string
		wantMax                       int
	}{
		{"", "siem.example.edu", "siem.example.edu:514", 2048},
		{"tcp", "10.0.0.9", "10.0.0.9:514", 8192},
		{"tls", "siem.example.edu", "siem.example.edu:6514", 8192},
		{"tls", "[2001:db8::9]", "[2001:db8::9]:6514", 8192},
		{"udp", "siem.example.edu:1514", "siem.example.edu:1514", 2048},
	} {
		s := SyslogConfig{Name: "siem", Network: tc.network, Address: tc.address}
		if err := s.Validate(); err != nil {
			t.Errorf("%s %s: %v", tc.network, tc.address, err)
		}
		s = s.withDefaults()
		if s.Address != tc.wantAddress || s.MaxMessageBytes != tc.wantMax || s.Facility != "local0" || s.AppName != "campusguard" || s.QueueSize != 4096 {
			t.Errorf("%s %s: defaults %+v", tc.network, tc.address, s)
		}
	}
}

func TestConfigValidateNames(t *testing.T) {
	c := Config{
		Webhooks: []WebhookConfig{
			{Name: "soc", URL: "https://a.example/", Secret: "0123456789abcdef"},
			{Name: "chat", URL: "https://b.example/", Secret: "x"},
		},
		Syslog: []SyslogConfig{{Name: "soc", Address: "siem.example.edu"}},
	}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), `webhooks[1]: webhook "chat": secret`) || !strings.Contains(err.Error(), `syslog[0]: name "soc": used by another output`) {
		t.Errorf("Validate = %v", err)
	}
	if _, err := New(c, Options{}); err == nil {
		t.Error("New accepts a bad config")
	}
}
