"""HTTP middleware options: one model per middleware type, and :class:`Middleware`, which holds
exactly one of them under Traefik's key (``addPrefix``, ``headers``, ``passTLSClientCert``...).

Names and defaults follow Traefik v3 (``pkg/config/dynamic/middlewares.go`` and the middleware
reference pages).  ``ipWhiteList`` is Traefik's deprecated alias of ``ipAllowList`` and is kept.
``cache`` is a traefikpy addition (an HTTP response cache).  :func:`exactly_one` is the
"one kind per element" rule shared by services and middlewares of every protocol.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from traefikpy.config.base import Duration, Model

__all__ = [
    "AddPrefix", "BasicAuth", "Buffering", "Cache", "CacheRedis", "Chain", "CircuitBreaker", "ClientTLS",
    "Compress", "ContentType", "DigestAuth", "EncodedCharacters", "ErrorPage", "ForwardAuth",
    "ForwardAuthTLS", "GrpcWeb", "Headers", "IPAllowList", "IPStrategy", "IPWhiteList", "InFlightReq",
    "IssuerDNInfo", "Middleware", "PassTLSClientCert", "RateLimit", "RedirectRegex", "RedirectScheme",
    "Redis", "ReplacePath", "ReplacePathRegex", "Retry", "SourceCriterion", "StripPrefix",
    "StripPrefixRegex", "SubjectDNInfo", "TLSClientCertInfo", "exactly_one",
]


def exactly_one(model: BaseModel, what: str) -> str | None:
    """The problem when not exactly one field of ``model`` is set (not None, not empty), else None.

    Like Traefik, this is not a validation error: the element alone is disabled at compile time
    with this message, e.g. ``a service must have exactly one of loadBalancer, weighted; found:
    loadBalancer, weighted``, and the rest of the file keeps working.
    """
    fields = type(model).model_fields
    keys = [info.alias or name for name, info in fields.items()]
    found = [info.alias or name for name, info in fields.items() if getattr(model, name) not in (None, {})]
    if len(found) != 1:
        return f"{what} must have exactly one of {', '.join(keys)}; found: {', '.join(found) or 'none'}"
    return None


class _Base(Model):
    # YAML/TOML numbers given for text keys (``port: 443``, ``status: [500]``) are text to Traefik.
    model_config = ConfigDict(coerce_numbers_to_str=True)


class AddPrefix(_Base):
    """Adds a prefix to the request path."""

    prefix: str = Field("", description="Prefix to add before the path; should start with a slash.")


class BasicAuth(_Base):
    """Restricts access to users known by name and hashed password (htpasswd: MD5, SHA1, BCrypt)."""

    users: list[str] = Field(default_factory=list, description="Users as name:hashed-password.")
    users_file: str = Field("", description="File with one name:hashed-password per line, merged with users.")
    realm: str = Field("traefik", description="Realm announced in the WWW-Authenticate challenge.")
    remove_header: bool = Field(False, description="Remove the Authorization header before forwarding.")
    header_field: str = Field("", description="Request header that receives the authenticated user name.")


class Buffering(_Base):
    """Reads whole requests (and responses) before forwarding them, with size limits."""

    max_request_body_bytes: int = Field(0, description="Largest request body; larger gets 413. 0 is no limit.")
    mem_request_body_bytes: int = Field(1048576, description="Request bytes kept in memory before spilling to disk.")
    max_response_body_bytes: int = Field(0, description="Largest response body; larger gets 500. 0 is no limit.")
    mem_response_body_bytes: int = Field(1048576, description="Response bytes kept in memory before spilling to disk.")
    retry_expression: str = Field("", description="Retry the request while this expression holds (e.g. IsNetworkError() && Attempts() < 2).")


class Chain(_Base):
    """A reusable list of other middlewares."""

    middlewares: list[str] = Field(default_factory=list, description="Middleware names, applied in order.")


class CircuitBreaker(_Base):
    """Stops calling a failing service while an expression over its recent metrics holds."""

    expression: str = Field("", description="Trip condition over NetworkErrorRatio(), ResponseCodeRatio(...), LatencyAtQuantileMS(...).")
    check_period: Duration = Field(0.1, description="Interval between evaluations of the expression.")
    fallback_duration: Duration = Field(10.0, description="Time spent open (answering responseCode) before recovering.")
    recovery_duration: Duration = Field(10.0, description="Time spent recovering (ramping traffic back up).")
    response_code: int = Field(503, description="Status returned while the breaker is open.")


class Compress(_Base):
    """Compresses responses (gzip, br, zstd) according to Accept-Encoding."""

    excluded_content_types: list[str] = Field(default_factory=list, description="Content types never compressed; exclusive with includedContentTypes.")
    included_content_types: list[str] = Field(default_factory=list, description="Only these content types are compressed; exclusive with excludedContentTypes.")
    min_response_body_bytes: int = Field(1024, description="Smallest body compressed (chunked bodies are always compressed).")
    encodings: list[str] = Field(default_factory=lambda: ["zstd", "br", "gzip"], description="Supported encodings in priority order (Traefik: zstd, br, gzip).")
    default_encoding: str = Field("", description="Encoding used when Accept-Encoding is absent or a wildcard.")


class ContentType(_Base):
    """Sets Content-Type from the body when the server sent none."""

    auto_detect: bool | None = Field(None, description="Deprecated: false turns the middleware into a no-op; unset or true detects the type.")


class DigestAuth(_Base):
    """Restricts access to users known by name, realm and MD5 digest (htdigest)."""

    users: list[str] = Field(default_factory=list, description="Users as name:realm:digest.")
    users_file: str = Field("", description="File with one name:realm:digest per line, merged with users.")
    remove_header: bool = Field(False, description="Remove the Authorization header before forwarding.")
    realm: str = Field("traefik", description="Realm announced in the WWW-Authenticate challenge.")
    header_field: str = Field("", description="Request header that receives the authenticated user name.")


class EncodedCharacters(_Base):
    """Rejects request paths holding ambiguous percent-encoded characters unless allowed."""

    allow_encoded_slash: bool = Field(False, description="Allow %2F in the path.")
    allow_encoded_back_slash: bool = Field(False, description="Allow %5C in the path.")
    allow_encoded_null_character: bool = Field(False, description="Allow %00 in the path.")
    allow_encoded_semicolon: bool = Field(False, description="Allow %3B in the path.")
    allow_encoded_percent: bool = Field(False, description="Allow %25 in the path.")
    allow_encoded_question_mark: bool = Field(False, description="Allow %3F in the path.")
    allow_encoded_hash: bool = Field(False, description="Allow %23 in the path.")


class ErrorPage(_Base):
    """Replaces error responses by a page fetched from another service."""

    status: list[str] = Field(default_factory=list, description="Statuses that trigger the page: 500, 500,502, 500-599 or combinations.")
    status_rewrites: dict[str, int] = Field(default_factory=dict, description="Status (or range) to status map applied to the returned page.")
    service: str = Field("", description="Service that serves the error page.")
    query: str = Field("", description="Path of the page; {status}, {originalStatus} and {url} are replaced.")
    error_request_headers: list[str] = Field(default_factory=list, description="Request headers sent to the error service (default: all).")


class ClientTLS(_Base):
    """TLS settings of a client connection made by a middleware."""

    ca: str = Field("", description="CA certificate (path or PEM) to verify the server; empty uses the system roots.")
    cert: str = Field("", description="Client certificate (path or PEM); needs key.")
    key: str = Field("", description="Client private key (path or PEM); needs cert.")
    insecure_skip_verify: bool = Field(False, description="Accept any server certificate.")


class ForwardAuthTLS(ClientTLS):
    """TLS settings of the connection to the authentication server."""

    ca_optional: bool | None = Field(None, description="Deprecated and ignored (a server-side option).")


class ForwardAuth(_Base):
    """Delegates authentication to an external server: 2xx lets the request through."""

    address: str = Field("", description="URL of the authentication server.")
    tls: ForwardAuthTLS | None = Field(None, description="TLS settings for the authentication server.")
    trust_forward_header: bool = Field(False, description="Forward the client's X-Forwarded-* headers instead of rebuilding them.")
    auth_response_headers: list[str] = Field(default_factory=list, description="Headers copied from the auth response onto the forwarded request.")
    auth_response_headers_regex: str = Field("", description="Regex of auth response headers copied onto the forwarded request.")
    auth_request_headers: list[str] = Field(default_factory=list, description="Request headers sent to the auth server; empty sends all.")
    add_auth_cookies_to_response: list[str] = Field(default_factory=list, description="Cookies copied from the auth response onto the response.")
    header_field: str = Field("", description="Auth response header whose value is recorded as the user name (access log).")
    forward_body: bool = Field(False, description="Send the request body to the auth server (buffers it).")
    max_body_size: int = Field(-1, description="Largest body sent with forwardBody; larger gets 401. -1 is no limit.")
    preserve_location_header: bool = Field(False, description="Pass the auth server's Location header unchanged instead of making it absolute.")
    preserve_request_method: bool = Field(False, description="Call the auth server with the request's method instead of GET.")


class GrpcWeb(_Base):
    """Converts gRPC-Web requests to HTTP/2 gRPC."""

    allow_origins: list[str] = Field(default_factory=list, description="Allowed CORS origins; * allows any.")


class Headers(_Base):
    """Adds or removes request/response headers; CORS and security headers."""

    custom_request_headers: dict[str, str] = Field(default_factory=dict, description="Headers set on the request; an empty value removes the header.")
    custom_response_headers: dict[str, str] = Field(default_factory=dict, description="Headers set on the response; an empty value removes the header.")
    access_control_allow_credentials: bool = Field(False, description="Send Access-Control-Allow-Credentials: true.")
    access_control_allow_headers: list[str] = Field(default_factory=list, description="Access-Control-Allow-Headers of preflight responses.")
    access_control_allow_methods: list[str] = Field(default_factory=list, description="Access-Control-Allow-Methods of preflight responses.")
    access_control_allow_origin_list: list[str] = Field(default_factory=list, description="Allowed origins; * allows any.")
    access_control_allow_origin_list_regex: list[str] = Field(default_factory=list, description="Allowed origins as regular expressions.")
    access_control_expose_headers: list[str] = Field(default_factory=list, description="Access-Control-Expose-Headers value.")
    access_control_max_age: int = Field(0, description="Seconds a preflight response may be cached.")
    add_vary_header: bool = Field(False, description="Add Vary: Origin when the allowed origin depends on the request.")
    allowed_hosts: list[str] = Field(default_factory=list, description="Allowed Host values; others get 400.")
    hosts_proxy_headers: list[str] = Field(default_factory=list, description="Headers that may hold the original host (checked by allowedHosts).")
    ssl_proxy_headers: dict[str, str] = Field(default_factory=dict, description="Header/value pairs that mark a request as HTTPS (e.g. X-Forwarded-Proto: https).")
    sts_seconds: int = Field(0, description="max-age of Strict-Transport-Security; 0 sends no header.")
    sts_include_subdomains: bool = Field(False, description="Add includeSubDomains to Strict-Transport-Security.")
    sts_preload: bool = Field(False, description="Add preload to Strict-Transport-Security.")
    force_sts_header: bool = Field(False, alias="forceSTSHeader", description="Send Strict-Transport-Security on plain HTTP too.")
    frame_deny: bool = Field(False, description="Send X-Frame-Options: DENY.")
    custom_frame_options_value: str = Field("", description="X-Frame-Options value; overrides frameDeny.")
    content_type_nosniff: bool = Field(False, description="Send X-Content-Type-Options: nosniff.")
    browser_xss_filter: bool = Field(False, description="Send X-XSS-Protection: 1; mode=block.")
    custom_browser_xss_value: str = Field("", alias="customBrowserXSSValue", description="X-XSS-Protection value; overrides browserXssFilter.")
    content_security_policy: str = Field("", description="Content-Security-Policy value.")
    content_security_policy_report_only: str = Field("", description="Content-Security-Policy-Report-Only value.")
    public_key: str = Field("", description="Public-Key-Pins value (HPKP).")
    referrer_policy: str = Field("", description="Referrer-Policy value.")
    permissions_policy: str = Field("", description="Permissions-Policy value.")
    is_development: bool = Field(False, description="Relax allowedHosts, SSL and STS checks for local development.")
    feature_policy: str = Field("", description="Deprecated: use permissionsPolicy.")
    ssl_redirect: bool = Field(False, description="Deprecated: use the redirectScheme middleware.")
    ssl_temporary_redirect: bool = Field(False, description="Deprecated: use the redirectScheme middleware.")
    ssl_host: str = Field("", description="Deprecated: use the redirectRegex middleware.")
    ssl_force_host: bool = Field(False, description="Deprecated: use the redirectRegex middleware.")


class IPStrategy(_Base):
    """How the client IP is chosen: the connection address, or one from X-Forwarded-For."""

    depth: int = Field(0, description="Use the X-Forwarded-For entry at this position from the right; 0 disables.")
    excluded_ips: list[str] = Field(default_factory=list, alias="excludedIPs", description="Use the rightmost X-Forwarded-For entry not in these ranges (ignored when depth is set).")
    ipv6_subnet: int | None = Field(None, description="Group IPv6 clients by this prefix length (0-128).")


class IPAllowList(_Base):
    """Accepts only clients whose IP is in the listed ranges."""

    source_range: list[str] = Field(default_factory=list, description="Allowed IPs or CIDR ranges.")
    ip_strategy: IPStrategy | None = Field(None, description="How the client IP is chosen; unset uses the connection address.")
    reject_status_code: int = Field(403, description="Status of rejected requests.")


class IPWhiteList(_Base):
    """Deprecated name of ipAllowList (no rejectStatusCode; rejects with 403)."""

    source_range: list[str] = Field(default_factory=list, description="Allowed IPs or CIDR ranges.")
    ip_strategy: IPStrategy | None = Field(None, description="How the client IP is chosen; unset uses the connection address.")


class SourceCriterion(_Base):
    """What groups requests as coming from one source (set at most one criterion)."""

    ip_strategy: IPStrategy | None = Field(None, description="Group by client IP chosen with this strategy.")
    request_header_name: str = Field("", description="Group by the value of this request header.")
    request_host: bool = Field(False, description="Group by the request host.")


class InFlightReq(_Base):
    """Limits simultaneous requests per source; the excess gets 429."""

    amount: int = Field(0, description="Most requests in progress per source.")
    source_criterion: SourceCriterion | None = Field(None, description="How sources are told apart; unset groups by the request Host.")


class SubjectDNInfo(_Base):
    """Subject fields of the client certificate to pass on."""

    country: bool = Field(False, description="Add C.")
    province: bool = Field(False, description="Add ST.")
    locality: bool = Field(False, description="Add L.")
    organization: bool = Field(False, description="Add O.")
    organizational_unit: bool = Field(False, description="Add OU.")
    common_name: bool = Field(False, description="Add CN.")
    serial_number: bool = Field(False, description="Add the subject serial number.")
    domain_component: bool = Field(False, description="Add DC.")


class IssuerDNInfo(_Base):
    """Issuer fields of the client certificate to pass on."""

    country: bool = Field(False, description="Add C.")
    province: bool = Field(False, description="Add ST.")
    locality: bool = Field(False, description="Add L.")
    organization: bool = Field(False, description="Add O.")
    common_name: bool = Field(False, description="Add CN.")
    serial_number: bool = Field(False, description="Add the issuer serial number.")
    domain_component: bool = Field(False, description="Add DC.")


class TLSClientCertInfo(_Base):
    """Client certificate details sent in X-Forwarded-Tls-Client-Cert-Info."""

    not_after: bool = Field(False, description="Add the NotAfter date.")
    not_before: bool = Field(False, description="Add the NotBefore date.")
    sans: bool = Field(False, description="Add the subject alternative names.")
    serial_number: bool = Field(False, description="Add the certificate serial number.")
    subject: SubjectDNInfo | None = Field(None, description="Subject fields to add.")
    issuer: IssuerDNInfo | None = Field(None, description="Issuer fields to add.")


class PassTLSClientCert(_Base):
    """Passes the client certificate (or selected details) to the server in headers."""

    pem: bool = Field(False, description="Send the certificate in X-Forwarded-Tls-Client-Cert.")
    info: TLSClientCertInfo | None = Field(None, description="Details to send in X-Forwarded-Tls-Client-Cert-Info.")


class Redis(_Base):
    """Redis connection used to share rate-limit state between instances."""

    endpoints: list[str] = Field(default_factory=lambda: ["localhost:6379"], description="Redis addresses (host:port).")
    tls: ClientTLS | None = Field(None, description="TLS settings for Redis.")
    username: str = Field("", description="Redis user name.")
    password: str = Field("", description="Redis password.")
    db: int = Field(0, description="Redis database number.")
    pool_size: int = Field(0, description="Base connection pool size; 0 means 10 per CPU.")
    min_idle_conns: int = Field(0, description="Idle connections kept open.")
    max_active_conns: int = Field(0, description="Most connections at once; 0 is no limit.")
    read_timeout: Duration = Field(3.0, description="Socket read timeout; 0 is none.")
    write_timeout: Duration = Field(3.0, description="Socket write timeout; 0 is none.")
    dial_timeout: Duration = Field(5.0, description="Connection timeout; 0 is none.")
    deny_on_error: bool = Field(True, description="Answer 500 when Redis fails; false lets requests through unlimited.")


class RateLimit(_Base):
    """Token-bucket rate limit per source: average/period sustained, burst at once; excess gets 429."""

    average: int = Field(0, description="Requests allowed per period; 0 disables the limit.")
    period: Duration = Field(1.0, description="Period over which average is counted.")
    burst: int = Field(1, description="Requests allowed at the very same moment.")
    source_criterion: SourceCriterion | None = Field(None, description="How sources are told apart; unset groups by client IP.")
    redis: Redis | None = Field(None, description="Share the limit between instances through Redis.")


class RedirectRegex(_Base):
    """Redirects when the request URL matches a regex."""

    regex: str = Field("", description="Regex matched against the full request URL.")
    replacement: str = Field("", description="Target URL; may use ${1} captures.")
    permanent: bool = Field(False, description="301/308 instead of 302/307.")


class RedirectScheme(_Base):
    """Redirects to another scheme (and port)."""

    scheme: str = Field("", description="Target scheme, e.g. https.")
    port: str = Field("", description="Target port; empty keeps the default port of the scheme.")
    permanent: bool = Field(False, description="301/308 instead of 302/307.")


class ReplacePath(_Base):
    """Replaces the request path (the original goes in X-Replaced-Path)."""

    path: str = Field("", description="New path.")


class ReplacePathRegex(_Base):
    """Rewrites the request path with a regex (the original goes in X-Replaced-Path)."""

    regex: str = Field("", description="Regex matched against the path.")
    replacement: str = Field("", description="New path; may use $1 captures.")


class Retry(_Base):
    """Retries a request on another attempt when the server does not answer (or answers a listed status)."""

    attempts: int = Field(0, description="Number of attempts.")
    initial_interval: Duration = Field(0.0, description="First backoff wait (doubling); 0 retries at once.")
    timeout: Duration = Field(0.0, description="Total time allowed for the retries; 0 is none.")
    max_request_body_bytes: int = Field(2097152, description="Largest request body kept for replays; -1 is no limit.")
    status: list[str] = Field(default_factory=list, description="Response statuses that are retried (e.g. 500-599).")
    disable_retry_on_network_error: bool = Field(False, description="Do not retry on connection errors (needs status).")
    retry_non_idempotent_method: bool = Field(False, description="Also retry POST, LOCK and PATCH.")


class StripPrefix(_Base):
    """Removes prefixes from the path (the removed part goes in X-Forwarded-Prefix)."""

    prefixes: list[str] = Field(default_factory=list, description="Prefixes to remove; the first match wins.")
    force_slash: bool | None = Field(None, description="Deprecated: true leaves / instead of an empty path when a whole path is stripped.")


class StripPrefixRegex(_Base):
    """Removes a regex-matched prefix from the path."""

    regex: list[str] = Field(default_factory=list, description="Regexes matched at the start of the path.")


class CacheRedis(_Base):
    """Redis connection of the cache middleware's shared store."""

    endpoints: list[str] = Field(default_factory=lambda: ["localhost:6379"], description="Redis address (host:port); one endpoint.")
    username: str = Field("", description="Redis user name.")
    password: str = Field("", description="Redis password.")
    db: int = Field(0, description="Redis database number.")
    dial_timeout: Duration = Field(1.0, description="Connection timeout; 0 is none.")
    read_timeout: Duration = Field(1.0, description="Socket read timeout; 0 is none. A failing Redis turns lookups into misses.")


class Cache(_Base):
    """traefikpy addition: a shared HTTP cache (RFC 9111) for GET/HEAD responses, with Cache-Status (RFC 9211)."""

    max_age: Duration = Field(60.0, description="Heuristic freshness of cacheable responses that state none (no max-age, s-maxage or Expires): 10% of their Last-Modified age capped at this, else this; 0 disables it.")
    keep_stale: Duration = Field(3600.0, description="How long a stale entry is kept to be revalidated or served by max-stale/stale-if-error.")
    max_size: int = Field(67108864, description="Most bytes held by the store (LRU eviction).")
    max_entry_size: int = Field(1048576, description="Largest response body cached.")
    store: str = Field("memory", description="Where entries live: memory or redis.")
    redis: CacheRedis | None = Field(None, description="Redis settings when store is redis.")
    allow_purge: bool = Field(False, description="Answer PURGE requests by dropping the cached URL (a path ending in * drops a prefix).")
    purge_source_range: list[str] = Field(default_factory=list, description="Client IPs/CIDRs allowed to PURGE; empty allows every client.")
    disable_cache_status_header: bool = Field(False, description="Do not add the Cache-Status response header.")

    @field_validator("store", mode="before")
    @classmethod
    def _known_store(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower() in ("memory", "redis"):
            return value.lower()
        raise ValueError(f"unknown cache store {value!r} (expected memory or redis)")


class Middleware(_Base):
    """A named HTTP middleware: exactly one of the middleware types."""

    add_prefix: AddPrefix | None = Field(None, description="Add a path prefix.")
    basic_auth: BasicAuth | None = Field(None, description="HTTP basic authentication.")
    buffering: Buffering | None = Field(None, description="Buffer and limit bodies.")
    cache: Cache | None = Field(None, description="traefikpy addition: HTTP response cache.")
    chain: Chain | None = Field(None, description="Apply a list of middlewares.")
    circuit_breaker: CircuitBreaker | None = Field(None, description="Stop calling a failing service.")
    compress: Compress | None = Field(None, description="Compress responses.")
    content_type: ContentType | None = Field(None, description="Detect a missing Content-Type.")
    digest_auth: DigestAuth | None = Field(None, description="HTTP digest authentication.")
    encoded_characters: EncodedCharacters | None = Field(None, description="Reject ambiguous encoded path characters.")
    errors: ErrorPage | None = Field(None, description="Custom error pages.")
    forward_auth: ForwardAuth | None = Field(None, description="Delegate authentication.")
    grpc_web: GrpcWeb | None = Field(None, description="gRPC-Web to gRPC.")
    headers: Headers | None = Field(None, description="Request/response, CORS and security headers.")
    ip_allow_list: IPAllowList | None = Field(None, description="Allow client IP ranges.")
    ip_white_list: IPWhiteList | None = Field(None, description="Deprecated: use ipAllowList.")
    in_flight_req: InFlightReq | None = Field(None, description="Limit simultaneous requests.")
    pass_tls_client_cert: PassTLSClientCert | None = Field(None, alias="passTLSClientCert", description="Pass the client certificate in headers.")
    plugin: dict[str, dict[str, Any]] | None = Field(None, description="Plugin name to its options.")
    rate_limit: RateLimit | None = Field(None, description="Rate limit.")
    redirect_regex: RedirectRegex | None = Field(None, description="Redirect by regex.")
    redirect_scheme: RedirectScheme | None = Field(None, description="Redirect to another scheme.")
    replace_path: ReplacePath | None = Field(None, description="Replace the path.")
    replace_path_regex: ReplacePathRegex | None = Field(None, description="Rewrite the path by regex.")
    retry: Retry | None = Field(None, description="Retry failed attempts.")
    strip_prefix: StripPrefix | None = Field(None, description="Remove path prefixes.")
    strip_prefix_regex: StripPrefixRegex | None = Field(None, description="Remove regex path prefixes.")

    def kind_problem(self) -> str | None:
        """Why this middleware cannot be built (not exactly one type), or None."""
        problem = exactly_one(self, "a middleware")
        if problem is None and self.plugin is not None and len(self.plugin) > 1:
            problem = f"a middleware must configure exactly one plugin; found: {', '.join(self.plugin)}"
        return problem

    def kind(self) -> str:
        """The Traefik key of the configured type (``"headers"``, ``"plugin"``...); check
        :meth:`kind_problem` first."""
        for name, info in type(self).model_fields.items():
            if getattr(self, name) not in (None, {}):
                return info.alias or name
        raise ValueError("a middleware without a type")
