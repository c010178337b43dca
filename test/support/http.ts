// HTTP for the operator-endpoint tests (AdminServer, /metrics): one request,
// its status, content type and body, bounded in time.

export interface HttpReply {
  status: number;
  type: string;
  body: string;
}

export async function httpGet(url: string, method = 'GET', timeoutMs = 20_000): Promise<HttpReply> {
  const res = await fetch(url, { method, signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}
