/** Next.js server side of `@chatkit-lambda/web`: the cookie-to-bearer proxy route. */
export {
  createChatKitRoute,
  readCookie,
  DEFAULT_COOKIE_NAME,
  DEFAULT_PROXY_MAX_BODY_BYTES,
  type ChatKitRouteOptions,
  type ChatKitUpstreamRoutes,
} from "./route.js";
