/** Recipes: the zod schema (defaults + docs), YAML loading with located errors, overrides, docs. */
export { RecipeSchema, type Recipe, type RecipeInput } from './schema.js';
export { loadRecipe, parseRecipe, parseOverride, RecipeError, type RecipeOverride } from './load.js';
export { saveResolvedRecipe } from './save.js';
export { describeRecipe, formatRecipeHelp, typeName, type RecipeKeyDoc } from './describe.js';
export { checkKeyPath, keysAt } from './keys.js';
