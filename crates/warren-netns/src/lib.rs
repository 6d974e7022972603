//! iproute2-compatible named network namespaces.
