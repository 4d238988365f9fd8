// Never imported: see package.json.
module.exports = {};
