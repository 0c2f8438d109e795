"""HTML error pages from the CDN or reverse proxy in front of a provider (``html=N`` fault).

OpenAI and Anthropic sit behind Cloudflare. When the origin fails, clients get either an
nginx-style page with ``cloudflare`` in the footer (500/502/503/504), or Cloudflare's own
branded page for its 52x codes (524 "A timeout occurred" is the common one for slow LLM
calls). Either way: ``text/html``, ``server: cloudflare``, a ``cf-ray`` id, and none of the
provider's headers, which is how a classifier tells "the CDN answered" from "the API answered".
"""

from __future__ import annotations

from http import HTTPStatus

from seawall.simulator.dialects.base import ErrorReply

_CLOUDFLARE_TITLES = {
    520: "Web server is returning an unknown error",
    521: "Web server is down",
    522: "Connection timed out",
    523: "Origin is unreachable",
    524: "A timeout occurred",
}


def _nginx_style(status: int) -> bytes:
    line = f"{status} {HTTPStatus(status).phrase}"
    return (
        f"<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n<center><h1>{line}</h1></center>\r\n"
        "<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


def _cloudflare_branded(status: int, host: str, ray: str) -> bytes:
    title = _CLOUDFLARE_TITLES[status]
    return f"""<!DOCTYPE html>
<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->
<!--[if gt IE 8]><!--> <html class="no-js" lang="en-US"> <!--<![endif]-->
<head>
<title>{host} | {status}: {title}</title>
<meta charset="UTF-8" />
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
<meta name="robots" content="noindex, nofollow" />
<link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/main.css" />
</head>
<body>
<div id="cf-wrapper">
  <div id="cf-error-details" class="p-0">
    <header class="mx-auto pt-10 lg:pt-6 lg:px-8 w-240 lg:w-full mb-8">
      <h1 class="inline-block sm:block sm:mb-2 font-light text-60 lg:text-4xl text-black-dark leading-tight mr-2">
        <span class="inline-block">{title}</span>
        <span class="code-label">Error code {status}</span>
      </h1>
      <div>Visit <a href="https://www.cloudflare.com/5xx-error-landing?utm_source=errorcode_{status}&amp;utm_campaign={host}" target="_blank" rel="noopener noreferrer">cloudflare.com</a> for more information.</div>
    </header>
    <div class="cf-error-footer cf-wrapper w-240 lg:w-full py-10 sm:py-4 sm:px-8 mx-auto text-center sm:text-left border-solid border-0 border-t border-gray-300">
      <p class="text-13">
        <span class="cf-footer-item sm:block sm:mb-1">Cloudflare Ray ID: <strong class="font-semibold">{ray.split("-")[0]}</strong></span>
        <span class="cf-footer-separator sm:hidden">&bull;</span>
        <span class="cf-footer-item sm:block sm:mb-1">Performance &amp; security by <a rel="noopener noreferrer" href="https://www.cloudflare.com/5xx-error-landing?utm_source=errorcode_{status}&amp;utm_campaign={host}" id="brand_link" target="_blank">Cloudflare</a></span>
      </p>
    </div>
  </div>
</div>
</body>
</html>
""".encode()


def html_page(status: int, host: str, ray: str) -> ErrorReply:
    """``ray`` is a ``cf-ray`` value (``8f3c2a1b9d4e7f60-SJC``)."""
    common = ((b"server", b"cloudflare"), (b"cf-ray", ray.encode()))
    if status in _CLOUDFLARE_TITLES:
        headers = common + (
            (b"cache-control", b"private, max-age=0, no-store, no-cache, must-revalidate, post-check=0, pre-check=0"),
            (b"expires", b"Thu, 01 Jan 1970 00:00:01 GMT"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"SAMEORIGIN"),
        )
        return ErrorReply(status, _cloudflare_branded(status, host, ray), b"text/html; charset=UTF-8", headers)
    return ErrorReply(status, _nginx_style(status), b"text/html", common)
