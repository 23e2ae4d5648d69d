// Bun shim: written with the conformance suite (issue 4).
export {};
