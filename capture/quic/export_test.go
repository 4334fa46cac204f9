package quic

// RFC9001ClientInitialForExample exposes the RFC 9001 A.2 vector to the
// external example package.
const RFC9001ClientInitialForExample = rfc9001ClientInitial
