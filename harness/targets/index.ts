/** External systems under test: the adapter API, the generic URL adapter and the Portkey gateway adapter. */
export {
  checkUrl,
  defineTarget,
  isTargetAdapter,
  TargetError,
  validateTargets,
  type MockEndpoints,
  type StartedTarget,
  type TargetAdapter,
  type TargetClassifier,
  type TargetStartContext,
} from './target.js';
export { parseTargetFlag, urlTarget, type UrlTargetOptions } from './url-target.js';
export {
  MOCK_FORWARD_HEADERS,
  PORTKEY_GATEWAY_VERSION,
  PORTKEY_RETRY,
  portkeyConfig,
  portkeyTarget,
  type PortkeyMode,
  type PortkeyRetry,
  type PortkeyTargetOptions,
  type PortkeyUpstreams,
} from './portkey.js';
export { startTarget, TARGET_UNKNOWNS, type RunningTarget, type StartTargetOptions } from './start.js';
export { finishTargetResult } from './target-result.js';
