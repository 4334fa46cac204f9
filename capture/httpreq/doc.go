// Package httpreq reads HTTP/1.x request heads from the client-to-server
// byte stream of a TCP connection and reports each request's method, target,
// protocol version and Host header.
//
// A Stream takes the connection's bytes in order, in segments of any size,
// and follows the requests on it: keep-alive and pipelined requests one after
// another, with Content-Length and chunked request bodies counted and skipped
// rather than buffered. Only a request head in progress is buffered, up to a
// bound. A connection that does not start like an HTTP request is given up
// quickly with ErrNotHTTP. Metadata only: nothing of the payload is kept
// beyond the fields of Request, which are valid during the callback.
package httpreq
