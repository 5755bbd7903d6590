// `EddyHTTP` re-exports its sans-IO core so that code written against `import EddyHTTP`
// (HTTPRequest, HTTPRouter, HTTPResponse …) keeps compiling unchanged; see Package.swift.
@_exported import EddyHTTPCore
