/**
 * shmkit: Linux shared memory for Node.js. The public surface, one explicit
 * list (see API.md for the contract).
 */
export { Segment } from './segment/segment.js';
export type { SegmentCreateOptions, SegmentOpenOptions, SegmentOpenOrCreateOptions, SegmentStat } from './segment/segment.js';
export type { SegmentInfo } from './segment/list.js';
export { SysVSegment, SysVAttachment } from './segment/sysv.js';
export type { SysVGetOptions, SysVSegmentStat, SysVSegmentInfo } from './segment/sysv.js';
export { sendSegment, receiveSegment } from './segment/transfer.js';
export type { TransferOptions } from './segment/transfer.js';
export { ShmkitError } from './errors.js';
export type { ShmkitErrorCode, ShmkitOwnErrorCode, ArgumentErrorCode, SystemErrorCode } from './errors.js';
export { Kind, readHeader, HEADER_LENGTH } from './layout/header.js';
export type { HeaderInfo, KindName } from './layout/header.js';
export { Notifier } from './sync/notifier.js';
export type { NotifierStats } from './sync/notifier.js';
export { Mutex } from './sync/mutex.js';
export type { LockResult, MutexStats } from './sync/mutex.js';
export type { WaitOptions, SpinOptions } from './sync/options.js';
export type { NamedCreateOptions, NamedOpenOptions } from './object/named.js';
export { Semaphore } from './sync/semaphore.js';
export type { SemaphoreOptions, SemaphoreStats } from './sync/semaphore.js';
export { Condition } from './sync/condition.js';
export type { ConditionStats } from './sync/condition.js';
export { Barrier } from './sync/barrier.js';
export type { BarrierOptions, BarrierStats } from './sync/barrier.js';
export { RwLock } from './sync/rwlock.js';
export type { RwLockStats } from './sync/rwlock.js';
export { Queue } from './channel/queue.js';
export type { QueueOptions, QueueHandleOptions, QueueCreateOptions, QueueMessage, QueueStats, QueueTryResult } from './channel/queue.js';
export { Topic, Subscriber, LaggedError } from './channel/topic.js';
export type { TopicOptions, TopicHandleOptions, TopicCreateOptions, TopicStats, PublishOptions, LagPolicy, SubscribeOptions } from './channel/topic.js';
export type { JsonValue, MessageOf, SendableOf, Encoding, ChannelHandleOptions, BytesEncoding, JsonEncoding, V8Encoding } from './channel/codec.js';
export { Dict } from './dict/dict.js';
export type { DictValue, DictOptions, DictHandleOptions, DictWriteOptions, DictSetOptions, DictIncrOptions, DictStats } from './dict/dict.js';
export { SharedArray } from './array/shared-array.js';
export type { SharedTypedArray, SharedTypedArrayConstructor, SharedArrayType, TypedArrayOf, SharedArrayOptions, SharedArrayOpenOptions, SharedArrayStats } from './array/shared-array.js';
export type { SharedObject } from './object/shared-object.js';
export type { RepairReport } from './object/repair-report.js';
export type {
  Awaitable, Backend, Capabilities, DictCapabilities, QueueCapabilities, TopicCapabilities, AsyncDict, AsyncQueue, AsyncTopic, AsyncSubscriber,
} from './object/async-interfaces.js';
