/**
 * Funnel's data model: users, items and events as clients send them.
 *
 * Ids are strings outside Funnel. Inside, the store gives every user and item a stable dense
 * integer index (0, 1, 2, ...) that is persisted, so models can use typed arrays indexed by it.
 */

/** Built-in event types. Any other non-empty string is accepted as a custom type (unless strict). */
export const BUILTIN_EVENT_TYPES = [
  'impression',
  'view',
  'click',
  'add_to_cart',
  'purchase',
  'rating',
  'like',
  'dislike',
  'share',
  'dwell',
] as const;
export type BuiltinEventType = (typeof BUILTIN_EVENT_TYPES)[number];
export type EventType = BuiltinEventType | (string & {});

/** Free attributes: JSON-compatible values. */
export type Attributes = Record<string, unknown>;

export interface User {
  id: string;
  attributes?: Attributes;
}

export interface Item {
  id: string;
  title?: string;
  categories?: string[];
  tags?: string[];
  price?: number;
  /** false hides the item from recommendations (still counted in history). Default true. */
  available?: boolean;
  /** Creation time, epoch milliseconds. */
  createdAt?: number;
  text?: string;
  imageUrl?: string;
  attributes?: Attributes;
}

/** Context of an event: where and how it happened. */
export interface EventContext {
  scene?: string;
  position?: number;
  requestId?: string;
  device?: string;
  [key: string]: unknown;
}

export interface Event {
  /** Optional client-side id; events with an id are deduplicated by it. */
  id?: string;
  userId: string;
  itemId: string;
  type: EventType;
  /** Rating, dwell seconds, amount, quantity... depending on the type. */
  value?: number;
  /** Epoch milliseconds. */
  timestamp: number;
  context?: EventContext;
}

/** An event as stored: with the dense indices of its user and item. */
export interface StoredEvent extends Event {
  /** Sequence number in the event log (monotonic, unique). */
  seq: number;
  userIdx: number;
  itemIdx: number;
}

/** Kinds of entity a file or request may carry. */
export type EntityKind = 'users' | 'items' | 'events';
