/**
 * Import presets: file layouts and column mappings of common datasets, so that
 * `funnel import --preset movielens-100k --dir ml-100k` needs nothing else.
 *
 * A preset describes, per entity kind, the usual file name, its format (delimiter, header,
 * quoting, encoding) and its mapping. Options given on the command line override the preset's.
 */
import type { EntityKind } from './model.js';
import type { Encoding, Format } from './parse.js';
import type { FieldSource, MappingSpec } from './mapping.js';

export interface FilePreset {
  /** The file's usual name in the dataset's folder (for --dir). */
  file: string;
  /** Omitted: from the file's extension / content (presets that come as CSV or JSON Lines). */
  format?: Format;
  delimiter?: string;
  quote?: string | null;
  header?: boolean;
  encoding?: Encoding;
  mapping: MappingSpec;
}

export interface Preset {
  name: string;
  description: string;
  files: Partial<Record<EntityKind, FilePreset>>;
}

/** MovieLens 100K genre flags of u.item, in column order (u.genre). */
export const ML100K_GENRES = [
  'unknown', 'Action', 'Adventure', 'Animation', "Children's", 'Comedy', 'Crime', 'Documentary', 'Drama', 'Fantasy',
  'Film-Noir', 'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western',
];

function optional(column: string, extra: Record<string, unknown> = {}): FieldSource {
  return { column, optional: true, ...extra } as FieldSource;
}

export const PRESETS: Record<string, Preset> = {
  'movielens-100k': {
    name: 'movielens-100k',
    description: 'MovieLens 100K: u.data (user, item, rating, unix seconds; tab-separated), u.item (Latin-1, | separated, genre flags), u.user',
    files: {
      events: {
        file: 'u.data',
        format: 'tsv',
        header: false,
        quote: null,
        mapping: {
          auto: false,
          rest: 'ignore',
          fields: { userId: 0, itemId: 1, value: 2, type: { value: 'rating' }, timestamp: { column: 3, unit: 's' } },
        },
      },
      items: {
        file: 'u.item',
        format: 'csv',
        delimiter: '|',
        header: false,
        quote: null,
        encoding: 'latin1',
        mapping: {
          auto: false,
          rest: 'ignore',
          fields: {
            id: 0,
            title: 1,
            createdAt: { column: 2, unit: 'iso' },
            'attributes.imdbUrl': 4,
            categories: { columns: ML100K_GENRES.map((_, j) => 5 + j), labels: ML100K_GENRES },
          },
        },
      },
      users: {
        file: 'u.user',
        format: 'csv',
        delimiter: '|',
        header: false,
        quote: null,
        encoding: 'latin1',
        mapping: {
          auto: false,
          rest: 'ignore',
          fields: {
            id: 0,
            'attributes.age': { column: 1, as: 'integer' },
            'attributes.gender': 2,
            'attributes.occupation': 3,
            'attributes.zip': 4,
          },
        },
      },
    },
  },
  movielens: {
    name: 'movielens',
    description: 'MovieLens (latest, 20M, 25M): ratings.csv (userId, movieId, rating, unix seconds), movies.csv (movieId, title, genres with |)',
    files: {
      events: {
        file: 'ratings.csv',
        format: 'csv',
        mapping: {
          auto: false,
          rest: 'ignore',
          fields: { userId: 'userId', itemId: 'movieId', value: 'rating', type: { value: 'rating' }, timestamp: { column: 'timestamp', unit: 's' } },
        },
      },
      items: {
        file: 'movies.csv',
        format: 'csv',
        mapping: {
          auto: false,
          rest: 'ignore',
          fields: { id: 'movieId', title: 'title', categories: { column: 'genres', split: '|', ignore: ['(no genres listed)'] } },
        },
      },
    },
  },
  frappe: {
    name: 'frappe',
    description:
      'frappe app usage: frappe.csv (user, item, cnt and 8 context fields; tab-separated; no time: every event gets 2015-01-01) → view events with value = cnt; meta.csv → items',
    files: {
      events: {
        file: 'frappe.csv',
        format: 'tsv',
        mapping: {
          auto: false,
          rest: 'keep',
          empty: ['unknown'],
          fields: {
            userId: 'user',
            itemId: 'item',
            type: { value: 'view' },
            value: 'cnt',
            timestamp: { value: '2015-01-01' },
          },
        },
      },
      items: {
        file: 'meta.csv',
        format: 'tsv',
        mapping: {
          auto: false,
          rest: 'keep',
          empty: ['unknown'],
          fields: {
            id: 'item',
            title: 'name',
            categories: { column: 'category', split: '|' },
            imageUrl: 'icon',
            text: 'description',
            'attributes.shortDesc': 'short desc',
          },
        },
      },
    },
  },
  funnel: {
    name: 'funnel',
    description: "Funnel's native files (as `funnel synth` writes them), CSV or JSON Lines: users, items, events with snake_case columns, times in epoch ms",
    files: {
      users: {
        file: 'users.csv',
        mapping: { auto: false, rest: 'keep', fields: { id: 'user_id' } },
      },
      items: {
        file: 'items.csv',
        mapping: {
          auto: false,
          rest: 'keep',
          fields: {
            id: 'item_id',
            title: optional('title'),
            categories: optional('categories', { split: '|' }),
            tags: optional('tags', { split: '|' }),
            price: optional('price'),
            available: optional('available'),
            createdAt: optional('created_at', { unit: 'ms' }),
            text: optional('text'),
            imageUrl: optional('image_url'),
          },
        },
      },
      events: {
        file: 'events.csv',
        mapping: {
          auto: false,
          rest: 'keep',
          fields: {
            id: optional('event_id'),
            userId: 'user_id',
            itemId: 'item_id',
            type: 'type',
            value: optional('value'),
            timestamp: { column: 'timestamp', unit: 'ms' },
            'context.scene': optional('scene'),
            'context.position': optional('position'),
            'context.requestId': optional('request_id'),
            'context.device': optional('device'),
          },
        },
      },
    },
  },
};

export const PRESET_NAMES = Object.keys(PRESETS);

export function getPreset(name: string): Preset {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset '${name}'; expected one of ${PRESET_NAMES.join(', ')}`);
  return p;
}

/** The preset's layout for one kind of file, or an error naming the kinds it has. */
export function presetFile(name: string, kind: EntityKind): FilePreset {
  const p = getPreset(name);
  const f = p.files[kind];
  if (!f) {
    const has = Object.keys(p.files).join(', ');
    throw new Error(`preset '${name}' has no ${kind} file (it has: ${has})`);
  }
  return f;
}
